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
	br := bufio.NewReaderSize(r, 1<<16)
	var in io.Reader = br
	// bound is the most payload bytes the input could hold; it lets a lying
	// header be rejected before allocating for it. Deflate expands at most
	// ~1032:1.
	bound := size
	if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: bad gzip header: %w", name, err)
		}
		defer zr.Close()
		in = zr
		name += " (decompressed)"
		bound = size * 1100
	}

	var hdr [4]byte
	if _, err := io.ReadFull(in, hdr[:]); err != nil {
		return nil, idxReadErr(name, 0, "magic number", err)
	}
	if hdr[0] != 0 || hdr[1] != 0 {
		return nil, fmt.Errorf("%s: bad IDX magic % x at byte offset 0 (want 00 00 type ndims)", name, hdr)
	}
	typ, ndims := hdr[2], int(hdr[3])
	esize, ok := idxElemSize[typ]
	if !ok {
		return nil, fmt.Errorf("%s: unknown IDX element type 0x%02x at byte offset 2", name, typ)
	}
	if ndims == 0 {
		return nil, fmt.Errorf("%s: IDX header declares no dimensions (byte offset 3)", name)
	}
	dimBuf := make([]byte, 4*ndims)
	if _, err := io.ReadFull(in, dimBuf); err != nil {
		return nil, idxReadErr(name, 4, "dimensions", err)
	}
	shape := make([]int, ndims)
	n, tooBig := int64(1), false
	for i := range shape {
		d := int64(binary.BigEndian.Uint32(dimBuf[4*i:]))
		shape[i] = int(d)
		// Stop multiplying once past the bound, so n cannot overflow.
		if d == 0 || n <= bound/d {
			n *= d
		} else {
			tooBig = true
		}
	}
	if n == 0 {
		tooBig = false // a zero dimension empties the array whatever the others say
	}
	off := int64(4 + 4*ndims)
	if tooBig || n*int64(esize) > bound-off {
		return nil, fmt.Errorf("%s: truncated: shape %v needs more data than the %d-byte file can hold (data starts at byte offset %d)", name, shape, size, off)
	}

	data := make([]float32, n)
	buf := make([]byte, 1<<16) // a multiple of every element size
	for done := int64(0); done < n; {
		want := min(int64(len(buf)), (n-done)*int64(esize))
		got, err := io.ReadFull(in, buf[:want])
		if err != nil {
			return nil, idxReadErr(name, off+done*int64(esize)+int64(got), fmt.Sprintf("data (shape %v)", shape), err)
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
	// Reading to the end also makes gzip verify its checksum.
	end := off + n*int64(esize)
	if extra, err := io.Copy(io.Discard, in); err != nil {
		return nil, idxReadErr(name, end, "end of data", err)
	} else if extra > 0 {
		return nil, fmt.Errorf("%s: %d bytes of trailing data after the data ends at byte offset %d", name, extra, end)
	}
	return &IDXArray{Type: typ, Shape: shape, Data: data}, nil
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
