// Package npy reads and writes NumPy's .npy array files.
//
// Layout of a file (format versions 1.0, 2.0 and 3.0):
//
//	6 bytes   magic "\x93NUMPY"
//	2 bytes   major and minor version: 1 0, 2 0 or 3 0
//	2 or 4    header length H, little-endian: uint16 in 1.0, uint32 in 2.0
//	          and 3.0
//	H bytes   a Python literal dict, latin-1 text (UTF-8 in 3.0):
//	            {'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }
//	          padded with spaces and ended by '\n' so that the data starts
//	          at a multiple of 64 bytes (16 in files from old NumPy)
//	rest      the elements, in C (row-major) order, or in Fortran
//	          (column-major) order when fortran_order is True
//
// Read accepts float, signed and unsigned integer and boolean dtypes of
// either byte order and converts them to float64 in C order (Fortran-order
// data is transposed). Write writes '<f4' or '<f8' in C order, with the
// header NumPy's np.save writes for the same array, so the bytes are the
// same as np.save's.
//
// Trailing bytes: Read consumes exactly one array and nothing after it, so
// arrays saved one after another into one stream are read in turn (as
// np.load on an open file does). ReadFile, which expects one array per
// file, reports bytes after the data as an error, since they mean a corrupt
// or concatenated file whose later arrays would silently be lost.
package npy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// The dtypes Write writes.
const (
	Float32 = "<f4"
	Float64 = "<f8"
)

// MaxHeaderSize bounds the header length Read accepts, so a corrupt length
// cannot force a huge allocation. Headers of the dtypes this package reads
// are about a hundred bytes.
const MaxHeaderSize = 1 << 20

const magic = "\x93NUMPY"

// Array is an array read from a .npy file.
type Array struct {
	Shape []int     // [] for a scalar
	Data  []float64 // the elements in C (row-major) order, converted to float64
	DType string    // the file's descr, e.g. "<f4"
	// Fortran is true when the file stored the data in Fortran order; Data
	// has been reordered to C order regardless.
	Fortran bool
}

// Numel returns the number of elements, the product of Shape.
func (a *Array) Numel() int {
	n := 1
	for _, d := range a.Shape {
		n *= d
	}
	return n
}

// Read reads one array from r, consuming exactly its bytes.
func Read(r io.Reader) (*Array, error) {
	a, err := read(r)
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	return a, nil
}

// ReadFile reads the one array of the file at path. Errors name the file.
func ReadFile(path string) (*Array, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	br := bytes.NewReader(b)
	a, err := read(br)
	if err != nil {
		return nil, fmt.Errorf("npy %s: %w", path, err)
	}
	if br.Len() > 0 {
		return nil, fmt.Errorf("npy %s: %d unexpected bytes after the array's data (the file ends at byte %d, the array at %d)",
			path, br.Len(), len(b), len(b)-br.Len())
	}
	return a, nil
}

func read(r io.Reader) (*Array, error) {
	var pre [8]byte
	if n, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, fmt.Errorf("not a .npy file: %d bytes, too short for the magic string and version", n)
	}
	if string(pre[:6]) != magic {
		return nil, fmt.Errorf("not a .npy file: bad magic %q (want %q)", pre[:6], magic)
	}
	major, minor := pre[6], pre[7]
	var hlen int
	switch {
	case major == 1 && minor == 0:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("truncated: no header length")
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case (major == 2 || major == 3) && minor == 0:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("truncated: no header length")
		}
		h := binary.LittleEndian.Uint32(b[:])
		if h > MaxHeaderSize {
			return nil, fmt.Errorf("header length %d exceeds the limit %d", h, MaxHeaderSize)
		}
		hlen = int(h)
	default:
		return nil, fmt.Errorf("unsupported format version %d.%d (readable: 1.0, 2.0, 3.0)", major, minor)
	}
	hdr := make([]byte, hlen)
	if n, err := io.ReadFull(r, hdr); err != nil {
		return nil, fmt.Errorf("truncated header: expected %d bytes, got %d", hlen, n)
	}
	a, dt, err := parseHeader(string(hdr))
	if err != nil {
		return nil, err
	}
	n := a.Numel()
	want := int64(n) * int64(dt.size)
	// ReadAll grows its buffer as data arrives, so a header promising more
	// than the input holds costs no more memory than the input.
	data, err := io.ReadAll(io.LimitReader(r, want))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) < want {
		return nil, fmt.Errorf("truncated data: shape %v of %s needs %d bytes, got %d", a.Shape, a.DType, want, len(data))
	}
	a.Data = make([]float64, n)
	dt.decode(a.Data, data)
	if a.Fortran && len(a.Shape) > 1 {
		a.Data = fortranToC(a.Shape, a.Data)
	}
	return a, nil
}

// maxBytes bounds the data size a header may declare, so sizes cannot
// overflow int arithmetic.
const maxBytes = math.MaxInt64 / 16

// parseHeader checks the header dict: exactly the keys descr,
// fortran_order and shape, as NumPy requires.
func parseHeader(text string) (*Array, dtype, error) {
	v, err := parseLiteral(text)
	if err != nil {
		return nil, dtype{}, fmt.Errorf("malformed header %q: %v", excerpt(text), err)
	}
	d, ok := v.(map[string]any)
	if !ok {
		return nil, dtype{}, fmt.Errorf("malformed header %q: not a dict", excerpt(text))
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if _, ok := d[k]; !ok {
			return nil, dtype{}, fmt.Errorf("malformed header %q: no %q key", excerpt(text), k)
		}
	}
	if len(d) != 3 {
		return nil, dtype{}, fmt.Errorf("malformed header %q: keys other than descr, fortran_order and shape", excerpt(text))
	}
	a := &Array{}
	switch descr := d["descr"].(type) {
	case string:
		a.DType = descr
	case []any:
		return nil, dtype{}, fmt.Errorf("unsupported dtype: a structured dtype (%d fields); only simple numeric dtypes are readable (%s)", len(descr), readable)
	default:
		return nil, dtype{}, fmt.Errorf("malformed header: descr is %v, not a string", descr)
	}
	dt, err := parseDType(a.DType)
	if err != nil {
		return nil, dtype{}, err
	}
	if a.Fortran, ok = d["fortran_order"].(bool); !ok {
		return nil, dtype{}, fmt.Errorf("malformed header: fortran_order is %v, not True or False", d["fortran_order"])
	}
	shape, ok := d["shape"].(tuple)
	if !ok {
		return nil, dtype{}, fmt.Errorf("malformed header: shape is %v, not a tuple", d["shape"])
	}
	a.Shape = make([]int, len(shape))
	size := int64(dt.size)
	for i, s := range shape {
		x, ok := s.(int64)
		if !ok || x < 0 {
			return nil, dtype{}, fmt.Errorf("malformed header: shape %v has a dimension that is not a non-negative integer", shape)
		}
		if x > 0 && size > maxBytes/x {
			return nil, dtype{}, fmt.Errorf("shape %v is too large", shape)
		}
		size *= x
		a.Shape[i] = int(x)
	}
	return a, dt, nil
}

func excerpt(s string) string {
	s = strings.TrimRight(s, " \n")
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}

// fortranToC reorders column-major data of the given shape to row-major.
// Index (i0, ..., ik) sits at offset Σ ij·(d0·...·d(j-1)) in f; walking the
// indices in C order (last fastest) with that offset gives the C layout.
func fortranToC(shape []int, f []float64) []float64 {
	k := len(shape)
	stride := make([]int, k)
	s := 1
	for j := range shape {
		stride[j] = s
		s *= shape[j]
	}
	c := make([]float64, len(f))
	idx := make([]int, k)
	off := 0
	for i := range c {
		c[i] = f[off]
		for j := k - 1; j >= 0; j-- {
			idx[j]++
			off += stride[j]
			if idx[j] < shape[j] {
				break
			}
			off -= stride[j] * shape[j]
			idx[j] = 0
		}
	}
	return c
}
