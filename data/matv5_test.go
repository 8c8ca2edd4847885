package data

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"
)

// matEnc writes MAT-file level 5 pieces, following the MathWorks spec, in
// one byte order.
type matEnc struct{ o matOrder }

type matOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// header is the 128-byte file header: text, subsystem offset, version
// 0x0100 and the endian indicator ('M'<<8 | 'I' written in file order).
func (e matEnc) header() []byte {
	h := []byte(fmt.Sprintf("%-116s", "MATLAB 5.0 MAT-file, written by the fdsm tests"))
	h = append(h, make([]byte, 8)...)
	h = e.o.AppendUint16(h, 0x0100)
	return e.o.AppendUint16(h, 'M'<<8|'I')
}

// elem is a data element: tag and data padded to 8 bytes, or the small
// format (byte count in the upper half of the type word) when asked and
// the data fits in 4 bytes.
func (e matEnc) elem(typ uint32, data []byte, small bool) []byte {
	if small && len(data) <= 4 {
		b := e.o.AppendUint32(nil, uint32(len(data))<<16|typ)
		return append(append(b, data...), make([]byte, 4-len(data))...)
	}
	b := e.o.AppendUint32(nil, typ)
	b = e.o.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	return append(b, make([]byte, (8-len(data)%8)%8)...)
}

// values encodes vals as the numeric storage type typ.
func (e matEnc) values(typ uint32, vals []float64) []byte {
	var b []byte
	for _, v := range vals {
		switch typ {
		case miINT8, miUINT8:
			b = append(b, byte(int64(v)))
		case miINT16, miUINT16:
			b = e.o.AppendUint16(b, uint16(int64(v)))
		case miINT32, miUINT32:
			b = e.o.AppendUint32(b, uint32(int64(v)))
		case miSINGLE:
			b = e.o.AppendUint32(b, math.Float32bits(float32(v)))
		case miINT64, miUINT64:
			b = e.o.AppendUint64(b, uint64(int64(v)))
		case miDOUBLE:
			b = e.o.AppendUint64(b, math.Float64bits(v))
		}
	}
	return b
}

// matrix is an miMATRIX element: array flags, dimensions, name, real part.
func (e matEnc) matrix(name string, class MATClass, dims []int, typ uint32, vals []float64) []byte {
	flags := e.o.AppendUint32(nil, uint32(class))
	flags = e.o.AppendUint32(flags, 0)
	var d []byte
	for _, v := range dims {
		d = e.o.AppendUint32(d, uint32(v))
	}
	body := e.elem(miUINT32, flags, false)
	body = append(body, e.elem(miINT32, d, false)...)
	body = append(body, e.elem(miINT8, []byte(name), true)...)
	body = append(body, e.elem(typ, e.values(typ, vals), true)...)
	return e.elem(miMATRIX, body, false)
}

// compressed wraps elements in one miCOMPRESSED element (no padding).
func (e matEnc) compressed(elems ...[]byte) []byte {
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(bytes.Join(elems, nil))
	w.Close()
	b := e.o.AppendUint32(nil, miCOMPRESSED)
	b = e.o.AppendUint32(b, uint32(z.Len()))
	return append(b, z.Bytes()...)
}

func (e matEnc) file(elems ...[]byte) []byte {
	return append(e.header(), bytes.Join(elems, nil)...)
}

func TestReadMAT(t *testing.T) {
	dir := t.TempDir()
	vals := []float64{1, -2, 3, 40, 5, 6}
	for _, o := range []matOrder{binary.LittleEndian, binary.BigEndian} {
		e := matEnc{o}
		elems := [][]byte{
			e.matrix("dbl", 6, []int{2, 3}, miDOUBLE, []float64{0.5, -1e300, 3, 4, 5, 6}),
			e.matrix("asU8", 6, []int{3, 2}, miUINT8, []float64{1, 2, 3, 200, 5, 6}), // class double, stored small
			e.matrix("i16", 10, []int{1, 6}, miINT16, vals),
			e.matrix("sgl", 7, []int{6, 1}, miSINGLE, vals),
			e.matrix("u32", 13, []int{2, 3}, miUINT32, []float64{1, 2, 3, 4e9, 5, 6}),
			e.matrix("i64", 14, []int{2, 3}, miINT64, vals),
			e.matrix("one", 8, []int{1, 1}, miINT8, []float64{-7}), // small data element
			e.matrix("empty", 6, []int{0, 0}, miDOUBLE, nil),
			e.matrix("str", 4, []int{1, 2}, miUTF8, []float64{'h', 'i'}),
		}
		for _, comp := range []bool{false, true} {
			b := e.file(elems...)
			if comp {
				b = e.file(e.compressed(elems[0]), e.compressed(elems[1:4]...), bytes.Join(elems[4:], nil))
			}
			path := writeFile(t, dir, "v.mat", b)
			vars, err := ReadMAT(path)
			if err != nil {
				t.Fatalf("%v compressed %v: %v", o, comp, err)
			}
			if len(vars) != len(elems) {
				t.Fatalf("%d variables, want %d", len(vars), len(elems))
			}
			for name, want := range map[string][]float64{
				"dbl": {0.5, -1e300, 3, 4, 5, 6}, "asU8": {1, 2, 3, 200, 5, 6}, "i16": vals, "sgl": vals,
				"u32": {1, 2, 3, 4e9, 5, 6}, "i64": vals, "one": {-7}, "empty": {},
			} {
				a := vars[name]
				if got := a.Float64s(); fmt.Sprint(got) != fmt.Sprint(want) || a.Unsupported != "" {
					t.Errorf("%v compressed %v: %s = %v %q, want %v", o, comp, name, got, a.Unsupported, want)
				}
			}
			if a := vars["dbl"]; fmt.Sprint(a.Dims) != "[2 3]" || a.Class.String() != "double" || a.Len() != 6 {
				t.Errorf("dbl: dims %v class %v", a.Dims, a.Class)
			}
			if a := vars["str"]; !strings.Contains(a.Unsupported, "char") || a.Float64s() != nil {
				t.Errorf("char array: %q", a.Unsupported)
			}
		}
	}
}

func TestReadMATCorrupt(t *testing.T) {
	dir := t.TempDir()
	e := matEnc{binary.LittleEndian}
	x := e.matrix("X", 6, []int{2, 2}, miDOUBLE, []float64{1, 2, 3, 4})
	good := e.file(x)
	comp := e.file(e.compressed(x))
	set := func(b []byte, at int, v ...byte) []byte {
		b = append([]byte(nil), b...)
		copy(b[at:], v)
		return b
	}
	// stray makes the compressed element declare extra bytes after its
	// zlib stream.
	stray := func(extra ...byte) []byte {
		c := e.compressed(x)
		binary.LittleEndian.PutUint32(c[4:], uint32(len(c)-8+len(extra)))
		return e.file(c, extra)
	}
	if _, err := ReadMAT(writeFile(t, dir, "pad.mat", stray(0, 0, 0))); err != nil {
		t.Errorf("zero padding after a compressed stream: %v", err)
	}
	badData := set(comp, 128+8+10, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef)
	for _, tc := range []struct {
		name  string
		b     []byte
		parts []string
	}{
		{"short", good[:100], []string{"header"}},
		{"endian", set(good, 126, 'X', 'X'), []string{"endian", "offset 126"}},
		{"version", set(good, 124, 0, 2), []string{"version 0x0200", "offset 124", "HDF5"}},
		{"cut", good[:len(good)-5], []string{"truncated", "offset 128"}},
		{"cuttag", good[:133], []string{"truncated tag", "offset 128"}},
		{"cutcomp", comp[:len(comp)-3], []string{"truncated", "offset 128"}},
		{"badcomp", badData, []string{"compressed", "offset 128"}},
		{"checksum", set(comp, len(comp)-1, comp[len(comp)-1]^1), []string{"checksum", "offset 128"}},
		{"type", set(good, 128, 3), []string{"data type 3", "offset 128"}},
		{"class", set(good, 128+16, 99), []string{"class 99", "offset 136"}},
		{"dims", set(good, 160, 3), []string{`variable "X"`, "real part", "[3 2]", "offset 176"}},
		{"negdim", set(good, 160, 0xff, 0xff, 0xff, 0xff), []string{"negative", "offset 152"}},
		{"realtype", set(good, 176, miMATRIX), []string{`variable "X"`, "not numeric", "offset 176"}},
		{"twice", e.file(x, e.compressed(x)), []string{`variable "X"`, "twice", "decompressed offset 40"}},
		{"stray", stray(1, 2), []string{"2 stray bytes", "offset 128"}},
		{"strayend", append(append([]byte(nil), comp...), 1, 2), []string{"truncated tag", "offset"}},
	} {
		p := writeFile(t, dir, tc.name+".mat", tc.b)
		_, err := ReadMAT(p)
		wantErr(t, err, append(tc.parts, p)...)
	}
}

func FuzzReadMAT(f *testing.F) {
	for _, o := range []matOrder{binary.LittleEndian, binary.BigEndian} {
		e := matEnc{o}
		x := e.matrix("X", 9, []int{2, 2, 1, 1}, miUINT8, []float64{1, 2, 3, 4})
		y := e.matrix("y", 6, []int{1, 1}, miDOUBLE, []float64{10})
		f.Add(e.file(x, y))
		f.Add(e.file(e.compressed(x, y)))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		vars, err := decodeMAT(bytes.NewReader(b), "fuzz", int64(len(b)))
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz") {
				t.Fatalf("error %q does not name the input", err)
			}
			return
		}
		for _, a := range vars {
			if got := a.Float64s(); a.Unsupported == "" && len(got) != a.Len() {
				t.Fatalf("%s: %d values for dims %v", a.Name, len(got), a.Dims)
			}
		}
		svhnFromMAT(vars, "fuzz", "fuzz")
	})
}
