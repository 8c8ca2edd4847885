package npy

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// golden2x3 is np.save(f, np.arange(6.0).reshape(2, 3)), written out by hand
// from the format: magic, version 1.0, header length 118 (0x76), the dict,
// 20 spaces np.save leaves for the first dimension to grow (21 digits minus
// the 1 of "2"), 38 spaces of padding so the data starts at byte 128 (a
// multiple of 64), '\n', then 0..5 as little-endian float64 (1.0 is
// 0x3FF0000000000000, 2.0 0x4000..., 3.0 0x4008..., 4.0 0x4010...,
// 5.0 0x4014...).
var golden2x3 = []byte("\x93NUMPY\x01\x00\x76\x00" +
	"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }" +
	strings.Repeat(" ", 20+38) + "\n" +
	"\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\xf0\x3f" +
	"\x00\x00\x00\x00\x00\x00\x00\x40" +
	"\x00\x00\x00\x00\x00\x00\x08\x40" +
	"\x00\x00\x00\x00\x00\x00\x10\x40" +
	"\x00\x00\x00\x00\x00\x00\x14\x40")

// golden3f4 is np.save of np.array([1, -2, 0.5], dtype=np.float32): dict of
// 57 bytes, 20 growth spaces, 40 of padding (10+57+20+40+1 = 128), then
// 0x3F800000, 0xC0000000, 0x3F000000 little-endian.
var golden3f4 = []byte("\x93NUMPY\x01\x00\x76\x00" +
	"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }" +
	strings.Repeat(" ", 20+40) + "\n" +
	"\x00\x00\x80\x3f" + "\x00\x00\x00\xc0" + "\x00\x00\x00\x3f")

func TestGoldenWrite(t *testing.T) {
	for _, c := range []struct {
		name  string
		shape []int
		data  []float64
		dtype string
		want  []byte
	}{
		{"2x3 f8", []int{2, 3}, []float64{0, 1, 2, 3, 4, 5}, Float64, golden2x3},
		{"3 f4", []int{3}, []float64{1, -2, 0.5}, Float32, golden3f4},
	} {
		var b bytes.Buffer
		if err := Write(&b, c.shape, c.data, c.dtype); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !bytes.Equal(b.Bytes(), c.want) {
			t.Errorf("%s: wrote\n%q\nwant\n%q", c.name, b.Bytes(), c.want)
		}
		if bytes.IndexByte(c.want, '\n') != 127 {
			t.Fatalf("%s: golden bytes themselves are misaligned", c.name)
		}
	}
}

func TestGoldenRead(t *testing.T) {
	a, err := Read(bytes.NewReader(golden2x3))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Shape, []int{2, 3}) || a.DType != "<f8" || a.Fortran ||
		!slices.Equal(a.Data, []float64{0, 1, 2, 3, 4, 5}) {
		t.Errorf("got %+v", a)
	}
}

// rawFile assembles a file by hand: magic, version, header length (uint16
// for 1.x, uint32 otherwise), the dict padded with spaces and '\n' to a
// multiple of align, then data.
func rawFile(major byte, dict string, align int, data []byte) []byte {
	pre := 10
	if major != 1 {
		pre = 12
	}
	h := dict
	for (pre+len(h)+1)%align != 0 {
		h += " "
	}
	h += "\n"
	b := []byte("\x93NUMPY")
	b = append(b, major, 0)
	if major == 1 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(h)))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(h)))
	}
	return append(append(b, h...), data...)
}

func le64(vs ...float64) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

// TestDTypes reads each dtype from hand-encoded bytes; all values are exact
// in float64, so equality is exact.
func TestDTypes(t *testing.T) {
	be := binary.BigEndian
	le := binary.LittleEndian
	cases := []struct {
		descr string
		data  []byte
		want  []float64
	}{
		{"<f8", le64(1.5, -3), []float64{1.5, -3}},
		{">f8", be.AppendUint64(be.AppendUint64(nil, math.Float64bits(1.5)), math.Float64bits(-3)), []float64{1.5, -3}},
		{"<f4", le.AppendUint32(le.AppendUint32(nil, math.Float32bits(0.25)), math.Float32bits(-7)), []float64{0.25, -7}},
		{">f4", be.AppendUint32(be.AppendUint32(nil, math.Float32bits(0.25)), math.Float32bits(-7)), []float64{0.25, -7}},
		{"<f2", []byte{0x00, 0x3c, 0x00, 0xc0}, []float64{1, -2}}, // binary16 1.0 = 0x3C00, -2 = 0xC000
		{"<i4", le.AppendUint32(le.AppendUint32(nil, uint32(0xffffffff)), 7), []float64{-1, 7}},
		{">i2", []byte{0xff, 0xfe, 0x01, 0x00}, []float64{-2, 256}},
		{"<i8", le.AppendUint64(le.AppendUint64(nil, math.MaxUint64), 1<<40), []float64{-1, 1 << 40}},
		{"|i1", []byte{0x80, 0x7f}, []float64{-128, 127}},
		{"|u1", []byte{0, 255}, []float64{0, 255}},
		{">u4", []byte{0, 0, 1, 0, 0xff, 0xff, 0xff, 0xff}, []float64{256, math.MaxUint32}},
		{"|b1", []byte{0, 1}, []float64{0, 1}},
	}
	for _, c := range cases {
		f := rawFile(1, "{'descr': '"+c.descr+"', 'fortran_order': False, 'shape': (2,), }", 64, c.data)
		a, err := Read(bytes.NewReader(f))
		if err != nil {
			t.Errorf("%s: %v", c.descr, err)
			continue
		}
		if a.DType != c.descr || !slices.Equal(a.Data, c.want) {
			t.Errorf("%s: got %v (%s), want %v", c.descr, a.Data, a.DType, c.want)
		}
	}
}

// TestFortranOrder stores x[i,j,k] = 100i + 10j + k of shape (2,3,4) in
// column-major order (i fastest) and expects C order back.
func TestFortranOrder(t *testing.T) {
	var data []float64
	for k := range 4 {
		for j := range 3 {
			for i := range 2 {
				data = append(data, float64(100*i+10*j+k))
			}
		}
	}
	f := rawFile(1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3, 4), }", 64, le64(data...))
	a, err := Read(bytes.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Fortran {
		t.Error("Fortran = false")
	}
	n := 0
	for i := range 2 {
		for j := range 3 {
			for k := range 4 {
				if got, want := a.Data[n], float64(100*i+10*j+k); got != want {
					t.Fatalf("x[%d,%d,%d] = %v, want %v", i, j, k, got, want)
				}
				n++
			}
		}
	}
	// 1-D Fortran data is the same as C data.
	f = rawFile(1, "{'descr': '<f8', 'fortran_order': True, 'shape': (3,), }", 64, le64(1, 2, 3))
	if a, err = Read(bytes.NewReader(f)); err != nil || !slices.Equal(a.Data, []float64{1, 2, 3}) {
		t.Errorf("1-D fortran: %v, %v", a, err)
	}
}

// TestVersionsAndOldHeaders reads format 2.0 and 3.0, a 16-byte aligned
// header with Python 2 longs and double quotes, and a scalar.
func TestVersionsAndOldHeaders(t *testing.T) {
	cases := []struct {
		name  string
		file  []byte
		shape []int
	}{
		{"v2", rawFile(2, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 64, le64(1, 2)), []int{2}},
		{"v3", rawFile(3, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", 64, le64(1, 2)), []int{1, 2}},
		{"py2", rawFile(1, `{"descr": "<f8", "fortran_order": False, "shape": (2L,)}`, 16, le64(1, 2)), []int{2}},
		{"scalar", rawFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", 64, le64(7)), []int{}},
		{"empty", rawFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 5), }", 64, nil), []int{0, 5}},
	}
	for _, c := range cases {
		a, err := Read(bytes.NewReader(c.file))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !slices.Equal(a.Shape, c.shape) || len(a.Data) != a.Numel() {
			t.Errorf("%s: shape %v with %d values, want %v", c.name, a.Shape, len(a.Data), c.shape)
		}
	}
}

// TestRoundTrip writes and reads back shapes of every rank; float64 is
// exact and float32 equals the values rounded to float32.
func TestRoundTrip(t *testing.T) {
	for _, shape := range [][]int{{}, {0}, {1}, {5}, {2, 3}, {2, 0, 3}, {2, 3, 4, 5}, {20000}} {
		n := 1
		for _, d := range shape {
			n *= d
		}
		data := make([]float64, n)
		for i := range data {
			data[i] = math.Sin(float64(i)*1.3) * math.Pow(10, float64(i%7-3))
		}
		for _, dt := range []string{Float32, Float64} {
			var b bytes.Buffer
			if err := Write(&b, shape, data, dt); err != nil {
				t.Fatal(err)
			}
			if hl := bytes.IndexByte(b.Bytes(), '\n') + 1; hl%64 != 0 {
				t.Errorf("%v %s: data starts at %d, not a multiple of 64", shape, dt, hl)
			}
			a, err := Read(&b)
			if err != nil {
				t.Fatalf("%v %s: %v", shape, dt, err)
			}
			if !slices.Equal(a.Shape, shape) || a.DType != dt || len(a.Data) != n {
				t.Fatalf("%v %s: got shape %v dtype %s", shape, dt, a.Shape, a.DType)
			}
			for i, v := range data {
				if dt == Float32 {
					v = float64(float32(v))
				}
				if a.Data[i] != v {
					t.Fatalf("%v %s: [%d] = %v, want %v", shape, dt, i, a.Data[i], v)
				}
			}
		}
	}
}

// TestLargeHeader: a header over 65535 bytes needs format 2.0.
func TestLargeHeader(t *testing.T) {
	shape := make([]int, 25000)
	for i := range shape {
		shape[i] = 1
	}
	var b bytes.Buffer
	if err := Write(&b, shape, []float64{3}, Float64); err != nil {
		t.Fatal(err)
	}
	if b.Bytes()[6] != 2 {
		t.Errorf("version %d, want 2", b.Bytes()[6])
	}
	a, err := Read(&b)
	if err != nil || len(a.Shape) != len(shape) || a.Data[0] != 3 {
		t.Errorf("read back: %v", err)
	}
}

// TestSequentialAndTrailing: Read leaves what follows an array unread;
// ReadFile refuses bytes after the data.
func TestSequentialAndTrailing(t *testing.T) {
	stream := append(append([]byte{}, golden2x3...), golden3f4...)
	r := bytes.NewReader(stream)
	a1, err1 := Read(r)
	a2, err2 := Read(r)
	if err1 != nil || err2 != nil || a1.Numel() != 6 || a2.Numel() != 3 || r.Len() != 0 {
		t.Fatalf("sequential read: %v %v", err1, err2)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "x.npy")
	if err := os.WriteFile(p, stream, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(p)
	if err == nil || !strings.Contains(err.Error(), "unexpected bytes") || !strings.Contains(err.Error(), p) {
		t.Errorf("trailing bytes: %v", err)
	}
	if err := WriteFile(p, []int{2, 3}, []float64{0, 1, 2, 3, 4, 5}, Float64); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); !bytes.Equal(b, golden2x3) {
		t.Error("WriteFile differs from the golden bytes")
	}
	if a, err := ReadFile(p); err != nil || a.Numel() != 6 {
		t.Errorf("ReadFile: %v", err)
	}
}
