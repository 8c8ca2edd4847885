package safetensors

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sort"
)

// MaxHeaderSize bounds the header length a reader accepts (the reference
// implementation's limit), so a corrupt length cannot force a huge allocation.
const MaxHeaderSize = 100_000_000

// File is a whole safetensors file in memory.
type File struct {
	Tensors  map[string]Tensor
	Metadata map[string]string // nil when the file has none
}

// Names returns the tensor names, sorted.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.Tensors))
	for n := range f.Tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Info describes one tensor of a file without its data.
type Info struct {
	Name       string
	DType      DType
	Shape      []int
	Begin, End int64 // byte range in the data buffer
}

// Numel returns the number of elements.
func (in Info) Numel() int {
	n := 1
	for _, d := range in.Shape {
		n *= d
	}
	return n
}

// Reader holds a validated header and reads tensor data on demand, so a
// large checkpoint can be loaded tensor by tensor. A Reader is for one
// goroutine at a time (DecodeFloat64s reuses one read buffer).
type Reader struct {
	// Metadata is the header's "__metadata__" (nil when absent).
	Metadata map[string]string
	r        io.ReaderAt
	closer   io.Closer
	start    int64  // offset of the data buffer in r
	infos    []Info // sorted by name
	byName   map[string]int
	buf      []byte // DecodeFloat64s's read buffer, kept between calls
}

// Read parses and validates a whole file held in b. The tensors' Data
// share b's memory.
func Read(b []byte) (*File, error) {
	r, err := NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, err
	}
	return r.file(b), nil
}

// file slices the tensors out of b, the whole file r reads.
func (r *Reader) file(b []byte) *File {
	f := &File{Tensors: make(map[string]Tensor, len(r.infos)), Metadata: r.Metadata}
	for _, in := range r.infos {
		lo, hi := r.start+in.Begin, r.start+in.End
		f.Tensors[in.Name] = Tensor{Name: in.Name, DType: in.DType, Shape: in.Shape, Data: b[lo:hi:hi]}
	}
	return f
}

// ReadFile reads and validates the file at path.
func ReadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	r, err := newReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	return r.file(b), nil
}

// Open reads and validates the header of the file at path; tensor data is
// read later by the Reader's methods. Close the Reader when done.
func Open(path string) (*Reader, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	r, err := newReader(fh, st.Size())
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	r.closer = fh
	return r, nil
}

// NewReader reads and validates the header of the size-byte file in r.
func NewReader(r io.ReaderAt, size int64) (*Reader, error) {
	rd, err := newReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return rd, nil
}

func newReader(r io.ReaderAt, size int64) (*Reader, error) {
	var lenBuf [8]byte
	if size < 8 {
		return nil, fmt.Errorf("file is %d bytes, too short for the 8-byte header length (truncated or not a safetensors file)", size)
	}
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("reading header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("header length %d exceeds the %d-byte limit (corrupt or not a safetensors file)", n, MaxHeaderSize)
	}
	if int64(n) > size-8 {
		return nil, fmt.Errorf("header length %d is larger than the %d bytes after it (truncated or not a safetensors file)", n, size-8)
	}
	hdr := make([]byte, n)
	if _, err := r.ReadAt(hdr, 8); err != nil {
		return nil, fmt.Errorf("reading header: %w", err)
	}
	rd := &Reader{r: r, start: 8 + int64(n)}
	var err error
	rd.infos, rd.Metadata, err = parseHeader(hdr, size-rd.start)
	if err != nil {
		return nil, err
	}
	rd.byName = make(map[string]int, len(rd.infos))
	for i, in := range rd.infos {
		rd.byName[in.Name] = i
	}
	return rd, nil
}

// Close closes the file opened by Open (a no-op for NewReader's).
func (r *Reader) Close() error {
	if r.closer == nil {
		return nil
	}
	return r.closer.Close()
}

// Tensors describes every tensor, sorted by name. The caller must not modify it.
func (r *Reader) Tensors() []Info { return r.infos }

// Info describes the named tensor.
func (r *Reader) Info(name string) (Info, bool) {
	i, ok := r.byName[name]
	if !ok {
		return Info{}, false
	}
	return r.infos[i], true
}

// Section returns a reader of the named tensor's raw bytes.
func (r *Reader) Section(name string) (*io.SectionReader, error) {
	in, ok := r.Info(name)
	if !ok {
		return nil, fmt.Errorf("safetensors: no tensor %q", name)
	}
	return io.NewSectionReader(r.r, r.start+in.Begin, in.End-in.Begin), nil
}

// DecodeFloat64s reads the named tensor into dst (len = its element count),
// converting from F32, F64, F16 or BF16. It reads in pieces, so memory
// beyond dst stays small whatever the tensor's size.
func (r *Reader) DecodeFloat64s(name string, dst []float64) error {
	in, ok := r.Info(name)
	if !ok {
		return fmt.Errorf("safetensors: no tensor %q", name)
	}
	if len(dst) != in.Numel() {
		return fmt.Errorf("safetensors: tensor %q has %d elements, destination %d", name, in.Numel(), len(dst))
	}
	size := in.DType.Size()
	if err := checkFloat(in.DType, int(in.End-in.Begin), len(dst)); err != nil {
		return fmt.Errorf("safetensors: tensor %q: %w", name, err)
	}
	const chunk = 1 << 14 // elements per read: at most 128 KiB of buffer
	if need := min(len(dst), chunk) * size; cap(r.buf) < need {
		r.buf = make([]byte, chunk*8) // the largest element size
	}
	for i := 0; i < len(dst); i += chunk {
		k := min(chunk, len(dst)-i)
		b := r.buf[:k*size]
		if _, err := r.r.ReadAt(b, r.start+in.Begin+int64(i*size)); err != nil {
			return fmt.Errorf("safetensors: reading tensor %q: %w", name, err)
		}
		if err := Decode(dst[i:i+k], in.DType, b); err != nil {
			return fmt.Errorf("safetensors: tensor %q: %w", name, err)
		}
	}
	return nil
}
