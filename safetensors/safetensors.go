// Package safetensors reads and writes the safetensors format, the
// checkpoint format PyTorch reads with safetensors.torch.load_file.
//
// Layout of a file:
//
//	8 bytes   N, the header length, unsigned little-endian
//	N bytes   a JSON object, padded with spaces so that N is a multiple of 8:
//	            {"__metadata__": {"key": "value", ...},          (optional)
//	             "name": {"dtype": "F32", "shape": [2, 3],
//	                      "data_offsets": [begin, end]}, ...}
//	rest      the data buffer; each tensor's bytes, little-endian and
//	          row-major, lie at [begin, end) of it
//
// The tensors must cover the buffer exactly, without gaps or overlaps. This
// package keeps the bytes of any standard dtype and converts F32, F64, F16
// and BF16 to floats; other dtypes give an error naming the tensor.
package safetensors

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// DType is a safetensors element type name, e.g. "F32".
type DType string

// The standard dtypes. F32 and F64 are read and written as floats; F16 and
// BF16 are read as floats; the others are kept as raw bytes only.
const (
	BOOL    DType = "BOOL"
	U8      DType = "U8"
	I8      DType = "I8"
	F8E5M2  DType = "F8_E5M2"
	F8E4M3  DType = "F8_E4M3"
	I16     DType = "I16"
	U16     DType = "U16"
	F16     DType = "F16"
	BF16    DType = "BF16"
	I32     DType = "I32"
	U32     DType = "U32"
	F32     DType = "F32"
	F64     DType = "F64"
	I64     DType = "I64"
	U64     DType = "U64"
	metaKey       = "__metadata__"
)

var dtypeSizes = map[DType]int{
	BOOL: 1, U8: 1, I8: 1, F8E5M2: 1, F8E4M3: 1,
	I16: 2, U16: 2, F16: 2, BF16: 2,
	I32: 4, U32: 4, F32: 4,
	F64: 8, I64: 8, U64: 8,
}

// Size returns the size of one element in bytes, or 0 for an unknown dtype.
func (d DType) Size() int { return dtypeSizes[d] }

// Tensor is one named tensor: its dtype, shape and raw bytes.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	// Data holds the elements, little-endian and row-major, len =
	// Numel()*DType.Size(). Tensors returned by Read share the file's buffer.
	Data []byte
	// Stream, used by Write when Data is nil, writes exactly the tensor's
	// bytes to w. It lets a large tensor be encoded piecewise from its
	// source (a device, say) instead of as one more whole copy in memory.
	Stream func(w io.Writer) error
}

// Numel returns the number of elements (1 for the scalar shape []).
func (t Tensor) Numel() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Float64s decodes the tensor into a new slice.
func (t Tensor) Float64s() ([]float64, error) {
	dst := make([]float64, t.Numel())
	return dst, t.DecodeFloat64s(dst)
}

// DecodeFloat64s decodes the tensor into dst (len = Numel()).
func (t Tensor) DecodeFloat64s(dst []float64) error {
	if len(dst) != t.Numel() {
		return fmt.Errorf("safetensors: tensor %q has %d elements, destination %d", t.Name, t.Numel(), len(dst))
	}
	if err := Decode(dst, t.DType, t.Data); err != nil {
		return fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
	}
	return nil
}

// Float32s decodes the tensor into a new float32 slice (F64 values are
// rounded to nearest).
func (t Tensor) Float32s() ([]float32, error) {
	n := t.Numel()
	if err := checkFloat(t.DType, len(t.Data), n); err != nil {
		return nil, fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
	}
	dst := make([]float32, n)
	b := t.Data
	for i := range dst {
		switch t.DType {
		case F32:
			dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		case F64:
			dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:])))
		case F16:
			dst[i] = HalfToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		case BF16:
			dst[i] = BFloat16ToFloat32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	}
	return dst, nil
}

// FromFloat32s returns an F32 tensor holding v (len = product of shape).
func FromFloat32s(name string, shape []int, v []float32) Tensor {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return Tensor{Name: name, DType: F32, Shape: append([]int{}, shape...), Data: b}
}

// FromFloat64s returns an F64 tensor holding v (len = product of shape).
func FromFloat64s(name string, shape []int, v []float64) Tensor {
	b := make([]byte, 8*len(v))
	Encode(b, F64, v) // F64 cannot fail
	return Tensor{Name: name, DType: F64, Shape: append([]int{}, shape...), Data: b}
}

// Decode converts src, elements of dtype dt, into dst. dt must be F32, F64,
// F16 or BF16, and len(src) must be len(dst)*dt.Size().
func Decode(dst []float64, dt DType, src []byte) error {
	if err := checkFloat(dt, len(src), len(dst)); err != nil {
		return err
	}
	switch dt {
	case F32:
		for i := range dst {
			dst[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:])))
		}
	case F64:
		for i := range dst {
			dst[i] = math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = float64(HalfToFloat32(binary.LittleEndian.Uint16(src[2*i:])))
		}
	case BF16:
		for i := range dst {
			dst[i] = float64(BFloat16ToFloat32(binary.LittleEndian.Uint16(src[2*i:])))
		}
	}
	return nil
}

// Encode writes src into dst as elements of dtype dt (F32, rounding to
// nearest, or F64); len(dst) must be len(src)*dt.Size().
func Encode(dst []byte, dt DType, src []float64) error {
	if dt != F32 && dt != F64 {
		return fmt.Errorf("cannot encode dtype %s (writable: F32, F64)", dt)
	}
	if len(dst) != len(src)*dt.Size() {
		return fmt.Errorf("%d bytes for %d %s elements", len(dst), len(src), dt)
	}
	if dt == F32 {
		for i, v := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(float32(v)))
		}
		return nil
	}
	for i, v := range src {
		binary.LittleEndian.PutUint64(dst[8*i:], math.Float64bits(v))
	}
	return nil
}

func checkFloat(dt DType, nbytes, n int) error {
	switch dt {
	case F32, F64, F16, BF16:
	default:
		if dt.Size() == 0 {
			return fmt.Errorf("unknown dtype %q", string(dt))
		}
		return fmt.Errorf("dtype %s is not a float type this package converts (F32, F64, F16, BF16)", dt)
	}
	if nbytes != n*dt.Size() {
		return fmt.Errorf("%d bytes for %d %s elements", nbytes, n, dt)
	}
	return nil
}

// HalfToFloat32 converts an IEEE 754 binary16 value to float32 exactly.
func HalfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf or NaN: keep the payload
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp != 0: // normal: rebias 15 -> 127
		return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
	case frac == 0:
		return math.Float32frombits(sign)
	}
	// subnormal: frac·2^-24, normalise the fraction
	e := uint32(113) // 127 - 14
	for frac&0x400 == 0 {
		frac <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (frac&0x3ff)<<13)
}

// BFloat16ToFloat32 converts a bfloat16 value (the top half of a float32) exactly.
func BFloat16ToFloat32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }
