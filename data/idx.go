package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// IDX element type codes (third byte of the magic number).
const (
	IDXUint8   byte = 0x08
	IDXInt8    byte = 0x09
	IDXInt16   byte = 0x0B
	IDXInt32   byte = 0x0C
	IDXFloat32 byte = 0x0D
	IDXFloat64 byte = 0x0E
)

// idxElemSize is the stored size in bytes of each IDX element type.
var idxElemSize = map[byte]int{
	IDXUint8: 1, IDXInt8: 1, IDXInt16: 2, IDXInt32: 4, IDXFloat32: 4, IDXFloat64: 8,
}

// IDXArray is the content of one IDX file (the MNIST format).
type IDXArray struct {
	Type  byte  // element type code as stored (IDXUint8, ...)
	Shape []int // dimensions, outermost first
	// Data holds the elements row-major, converted to float32. Integers
	// beyond ±2^24 and float64 values lose precision; the datasets we read
	// are all uint8, which converts exactly.
	Data []float32
}

// ReadIDX reads an IDX file, plain or gzip-compressed (detected by the gzip
// magic bytes 1f 8b, whatever the file name says).
func ReadIDX(path string) (*IDXArray, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return decodeIDX(f, path, st.Size())
}

// decodeIDX reads an IDX stream named name (for errors) from r, whose raw
// (possibly compressed) size is size bytes.
func decodeIDX(r io.Reader, name string, size int64) (*IDXArray, error) {
	d, err := newIDXDecoder(r, name, size)
	if err != nil {
		return nil, err
	}
	defer d.close()
	typ, esize, ndims, err := d.header()
	if err != nil {
		return nil, err
	}
	shape, n, err := d.shape(ndims, esize)
	if err != nil {
		return nil, err
	}
	off := idxDataStart(ndims)
	data, err := d.data(typ, esize, shape, n, off)
	if err != nil {
		return nil, err
	}
	if err := d.end(off + n*int64(esize)); err != nil {
		return nil, err
	}
	return &IDXArray{Type: typ, Shape: shape, Data: data}, nil
}

// idxDecoder reads one IDX stream, plain or gzip-compressed.
type idxDecoder struct {
	in   io.Reader
	gz   *gzip.Reader // nil for a plain stream
	name string       // for errors; says "(decompressed)" for a gzip stream
	size int64        // raw (possibly compressed) size, for errors
	// bound is the most payload bytes the input could hold; it lets a lying
	// header be rejected before allocating for it.
	bound int64
}

func newIDXDecoder(r io.Reader, name string, size int64) (*idxDecoder, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	d := &idxDecoder{in: br, name: name, size: size, bound: size}
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: bad gzip header: %w", name, err)
		}
		d.in, d.gz = zr, zr
		d.name += " (decompressed)"
		d.bound = size * 1100 // deflate expands at most ~1032:1
	}
	return d, nil
}

func (d *idxDecoder) close() {
	if d.gz != nil {
		d.gz.Close()
	}
}

// header reads the magic number: the element type, its size and the number
// of dimensions.
func (d *idxDecoder) header() (typ byte, esize, ndims int, err error) {
	var hdr [4]byte
	if _, err := io.ReadFull(d.in, hdr[:]); err != nil {
		return 0, 0, 0, idxReadErr(d.name, 0, "magic number", err)
	}
	if hdr[0] != 0 || hdr[1] != 0 {
		return 0, 0, 0, fmt.Errorf("%s: bad IDX magic % x at byte offset 0 (want 00 00 type ndims)", d.name, hdr)
	}
	typ, ndims = hdr[2], int(hdr[3])
	esize, ok := idxElemSize[typ]
	if !ok {
		return 0, 0, 0, fmt.Errorf("%s: unknown IDX element type 0x%02x at byte offset 2", d.name, typ)
	}
	if ndims == 0 {
		return 0, 0, 0, fmt.Errorf("%s: IDX header declares no dimensions (byte offset 3)", d.name)
	}
	return typ, esize, ndims, nil
}

// shape reads the ndims dimensions and returns them with the element count,
// refusing a shape of elements of esize bytes that the input cannot hold.
func (d *idxDecoder) shape(ndims, esize int) (shape []int, n int64, err error) {
	dimBuf := make([]byte, 4*ndims)
	if _, err := io.ReadFull(d.in, dimBuf); err != nil {
		return nil, 0, idxReadErr(d.name, 4, "dimensions", err)
	}
	shape = make([]int, ndims)
	n, tooBig := int64(1), false
	for i := range shape {
		dim := int64(binary.BigEndian.Uint32(dimBuf[4*i:]))
		shape[i] = int(dim)
		// Stop multiplying once past the bound, so n cannot overflow.
		if dim == 0 || n <= d.bound/dim {
			n *= dim
		} else {
			tooBig = true
		}
	}
	if n == 0 {
		tooBig = false // a zero dimension empties the array whatever the others say
	}
	off := idxDataStart(ndims)
	if tooBig || n*int64(esize) > d.bound-off {
		return nil, 0, fmt.Errorf("%s: truncated: shape %v needs more data than the %d-byte file can hold (data starts at byte offset %d)", d.name, shape, d.size, off)
	}
	return shape, n, nil
}

// idxDataStart is the byte offset of the data after a header of ndims
// dimensions.
func idxDataStart(ndims int) int64 { return int64(4 + 4*ndims) }

// data reads the n elements of type typ (esize bytes each) that start at
// byte offset off, converted to float32.
func (d *idxDecoder) data(typ byte, esize int, shape []int, n, off int64) ([]float32, error) {
	data := make([]float32, n)
	buf := make([]byte, 1<<16) // a multiple of every element size
	for done := int64(0); done < n; {
		want := min(int64(len(buf)), (n-done)*int64(esize))
		got, err := io.ReadFull(d.in, buf[:want])
		if err != nil {
			return nil, idxReadErr(d.name, off+done*int64(esize)+int64(got), fmt.Sprintf("data (shape %v)", shape), err)
		}
		if typ == IDXUint8 { // the common case, without the per-element switch
			for _, b := range buf[:want] {
				data[done] = float32(b)
				done++
			}
			continue
		}
		for i := int64(0); i < want; i += int64(esize) {
			data[done] = idxElem(typ, buf[i:])
			done++
		}
	}
	return data, nil
}

// end checks that the data, ending at byte offset end, ends the stream.
// Reading to the end also makes gzip verify its checksum.
func (d *idxDecoder) end(end int64) error {
	if extra, err := io.Copy(io.Discard, d.in); err != nil {
		return idxReadErr(d.name, end, "end of data", err)
	} else if extra > 0 {
		return fmt.Errorf("%s: %d bytes of trailing data after the data ends at byte offset %d", d.name, extra, end)
	}
	return nil
}

// idxElem decodes one big-endian element of type typ from b.
func idxElem(typ byte, b []byte) float32 {
	switch typ {
	case IDXUint8:
		return float32(b[0])
	case IDXInt8:
		return float32(int8(b[0]))
	case IDXInt16:
		return float32(int16(binary.BigEndian.Uint16(b)))
	case IDXInt32:
		return float32(int32(binary.BigEndian.Uint32(b)))
	case IDXFloat32:
		return math.Float32frombits(binary.BigEndian.Uint32(b))
	default: // IDXFloat64
		return float32(math.Float64frombits(binary.BigEndian.Uint64(b)))
	}
}

func idxReadErr(name string, off int64, what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: truncated in %s at byte offset %d", name, what, off)
	}
	return fmt.Errorf("%s: reading %s near byte offset %d: %w", name, what, off, err)
}

// LoadIDXImages reads an IDX image file (uint8, [N, H, W]) and its IDX label
// file (uint8, [N]) into a dataset of shape [1, H, W] with values x/255.
func LoadIDXImages(imagesPath, labelsPath, name string) (*InMemory, error) {
	img, err := ReadIDX(imagesPath)
	if err != nil {
		return nil, err
	}
	if img.Type != IDXUint8 || len(img.Shape) != 3 {
		return nil, fmt.Errorf("%s: want uint8 images of shape [N H W], got type 0x%02x shape %v", imagesPath, img.Type, img.Shape)
	}
	lab, err := ReadIDX(labelsPath)
	if err != nil {
		return nil, err
	}
	if lab.Type != IDXUint8 || len(lab.Shape) != 1 {
		return nil, fmt.Errorf("%s: want uint8 labels of shape [N], got type 0x%02x shape %v", labelsPath, lab.Type, lab.Shape)
	}
	if img.Shape[0] != lab.Shape[0] {
		return nil, fmt.Errorf("%s has %d images but %s has %d labels", imagesPath, img.Shape[0], labelsPath, lab.Shape[0])
	}
	for i := range img.Data {
		img.Data[i] /= 255
	}
	labels := make([]int, len(lab.Data))
	for i, v := range lab.Data {
		labels[i] = int(v)
	}
	return NewInMemory(name, []int{1, img.Shape[1], img.Shape[2]}, img.Data, labels)
}
