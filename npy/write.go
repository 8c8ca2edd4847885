package npy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/fdsm-go/fdsm/safetensors"
)

// Write writes data, the elements of an array of the given shape in C
// order, as dtype Float32 (rounding to nearest) or Float64. The header is
// np.save's: format 1.0 (2.0 if the header does not fit), keys sorted,
// spare spaces so the first dimension can grow in place, and padding to a
// multiple of 64 bytes.
func Write(w io.Writer, shape []int, data []float64, dtype string) error {
	var sdt safetensors.DType
	switch dtype {
	case Float32:
		sdt = safetensors.F32
	case Float64:
		sdt = safetensors.F64
	default:
		return fmt.Errorf("npy: cannot write dtype %q (writable: %s, %s)", dtype, Float32, Float64)
	}
	n := 1
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("npy: negative dimension in shape %v", shape)
		}
		n *= d
	}
	if n != len(data) {
		return fmt.Errorf("npy: %d values for shape %v (%d elements)", len(data), shape, n)
	}
	if _, err := w.Write(header(shape, dtype)); err != nil {
		return err
	}
	const step = 1 << 14 // elements per write
	buf := make([]byte, min(step, n)*sdt.Size())
	for i := 0; i < n; i += step {
		k := min(step, n-i)
		b := buf[:k*sdt.Size()]
		if err := safetensors.Encode(b, sdt, data[i:i+k]); err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// header returns magic, version, length and padded dict for a C-order array.
func header(shape []int, dtype string) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.Itoa(d)
	}
	tup := "(" + strings.Join(dims, ", ") + ")"
	if len(shape) == 1 {
		tup = "(" + dims[0] + ",)"
	}
	dict := "{'descr': '" + dtype + "', 'fortran_order': False, 'shape': " + tup + ", }"
	if len(shape) > 0 {
		// np.save leaves room for the first dimension to grow to 21 digits.
		dict += strings.Repeat(" ", max(0, 21-len(dims[0])))
	}
	for _, v := range []struct {
		major byte
		lenSz int
	}{{1, 2}, {2, 4}} {
		pre := len(magic) + 2 + v.lenSz
		hlen := len(dict) + 1 // + '\n'
		pad := 64 - (pre+hlen)%64
		total := hlen + pad
		if v.lenSz == 2 && total > math.MaxUint16 {
			continue
		}
		out := make([]byte, 0, pre+total)
		out = append(out, magic...)
		out = append(out, v.major, 0)
		if v.lenSz == 2 {
			out = binary.LittleEndian.AppendUint16(out, uint16(total))
		} else {
			out = binary.LittleEndian.AppendUint32(out, uint32(total))
		}
		out = append(out, dict...)
		out = append(out, bytes.Repeat([]byte{' '}, pad)...)
		return append(out, '\n')
	}
	panic("unreachable")
}

// WriteFile writes the array to a new file at path (see Write).
func WriteFile(path string, shape []int, data []float64, dtype string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	bw := bufio.NewWriter(f)
	if err := Write(bw, shape, data, dtype); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("npy: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	return nil
}
