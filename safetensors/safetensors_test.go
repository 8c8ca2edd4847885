package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// golden is a tiny file computed by hand from the format description: a
// 136-byte header (132 bytes of JSON + 4 spaces of padding) and the data,
// F64 first (larger elements lead) then F32.
var golden = []byte("\x88\x00\x00\x00\x00\x00\x00\x00" +
	`{"__metadata__":{"k":"v"},` +
	`"b":{"dtype":"F64","shape":[],"data_offsets":[0,8]},` +
	`"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}` + "    " +
	"\x00\x00\x00\x00\x00\x00\xe0\x3f" + // 0.5 as float64
	"\x00\x00\x80\x3f" + "\x00\x00\x00\xc0") // 1, -2 as float32

func goldenTensors() []Tensor {
	return []Tensor{
		FromFloat32s("a", []int{2}, []float32{1, -2}),
		FromFloat64s("b", []int{}, []float64{0.5}),
	}
}

func TestGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, goldenTensors(), map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), golden) {
		t.Fatalf("layout changed:\n got %q\nwant %q", buf.Bytes(), golden)
	}
	f, err := Read(golden)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := f.Tensors["a"].Float64s()
	b, _ := f.Tensors["b"].Float64s()
	if !reflect.DeepEqual(a, []float64{1, -2}) || !reflect.DeepEqual(b, []float64{0.5}) || f.Metadata["k"] != "v" {
		t.Fatalf("read back a=%v b=%v meta=%v", a, b, f.Metadata)
	}
}

func sample() ([]Tensor, map[string]string) {
	f32 := []float32{1.5, float32(math.Copysign(0, -1)), float32(math.Inf(1)), math.SmallestNonzeroFloat32, math.MaxFloat32, 3, -7, 0.1}
	f64 := []float64{math.Pi, -math.E, math.SmallestNonzeroFloat64, math.MaxFloat64, math.Inf(-1), 1e-300}
	return []Tensor{
		FromFloat32s("w", []int{2, 4}, f32),
		FromFloat64s("v", []int{3, 1, 2}, f64),
		FromFloat32s("empty", []int{0, 3}, nil),
		FromFloat64s("empty64", []int{4, 0}, nil),
		FromFloat32s("scalar", []int{}, []float32{-1.25}),
	}, map[string]string{"format": "pt", "note": `quotes " and <tags> & ünïcode`}
}

func checkSame(t *testing.T, want []Tensor, meta map[string]string, f *File) {
	t.Helper()
	if len(f.Tensors) != len(want) || !reflect.DeepEqual(f.Metadata, meta) {
		t.Fatalf("got %d tensors, metadata %v; want %d, %v", len(f.Tensors), f.Metadata, len(want), meta)
	}
	for _, w := range want {
		g, ok := f.Tensors[w.Name]
		if !ok || g.DType != w.DType || !reflect.DeepEqual(g.Shape, w.Shape) || !bytes.Equal(g.Data, w.Data) {
			t.Fatalf("tensor %q: got %+v, want %+v", w.Name, g, w)
		}
	}
}

// TestRoundTrip checks that bytes come back bitwise, through memory and
// through WriteFile/ReadFile/Open, for float32/float64, zero-size and
// scalar tensors and metadata.
func TestRoundTrip(t *testing.T) {
	tensors, meta := sample()
	var buf bytes.Buffer
	if err := Write(&buf, tensors, meta); err != nil {
		t.Fatal(err)
	}
	hdrLen := binary.LittleEndian.Uint64(buf.Bytes())
	if hdrLen%8 != 0 {
		t.Errorf("header length %d not a multiple of 8", hdrLen)
	}
	f, err := Read(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, tensors, meta, f)

	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := WriteFile(path, tensors, meta); err != nil {
		t.Fatal(err)
	}
	if f, err = ReadFile(path); err != nil {
		t.Fatal(err)
	}
	checkSame(t, tensors, meta, f)

	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, w := range tensors {
		want, _ := w.Float64s()
		got := make([]float64, w.Numel())
		if err := r.DecodeFloat64s(w.Name, got); err != nil {
			t.Fatal(err)
		}
		for i := range got { // compare bits: -0 must stay -0
			if math.Float64bits(got[i]) != math.Float64bits(want[i]) {
				t.Fatalf("%s[%d]: got %v want %v", w.Name, i, got[i], want[i])
			}
		}
	}
	if f32, _ := f.Tensors["w"].Float32s(); f32[1] != 0 || !math.Signbit(float64(f32[1])) {
		t.Errorf("-0 lost: %v", f32)
	}
}

func TestStreamWrite(t *testing.T) {
	data := FromFloat32s("s", []int{3}, []float32{1, 2, 3}).Data
	stream := Tensor{Name: "s", DType: F32, Shape: []int{3}, Stream: func(w io.Writer) error {
		for i := 0; i < len(data); i += 4 { // piecewise, as a checkpoint writer does
			if _, err := w.Write(data[i : i+4]); err != nil {
				return err
			}
		}
		return nil
	}}
	var a, b bytes.Buffer
	if err := Write(&a, []Tensor{stream}, nil); err != nil {
		t.Fatal(err)
	}
	Write(&b, []Tensor{{Name: "s", DType: F32, Shape: []int{3}, Data: data}}, nil)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("streamed and in-memory writes differ")
	}
	short := stream
	short.Shape = []int{4}
	if err := Write(io.Discard, []Tensor{short}, nil); err == nil || !strings.Contains(err.Error(), `"s" streamed 12 bytes`) {
		t.Fatalf("short stream: %v", err)
	}
}

func TestWriteErrors(t *testing.T) {
	ok := FromFloat32s("x", []int{2}, []float32{1, 2})
	cases := []struct {
		name    string
		tensors []Tensor
		meta    map[string]string
		want    string
	}{
		{"duplicate", []Tensor{ok, ok}, nil, `"x" given twice`},
		{"reserved", []Tensor{{Name: "__metadata__", DType: F32, Shape: []int{0}}}, nil, "reserved"},
		{"dtype", []Tensor{{Name: "q", DType: "F12", Shape: []int{0}}}, nil, `"q": unknown dtype "F12"`},
		{"negative", []Tensor{{Name: "n", DType: F32, Shape: []int{-1, -1}, Data: make([]byte, 4)}}, nil, `"n": negative dimension`},
		{"length", []Tensor{{Name: "l", DType: F64, Shape: []int{2}, Data: make([]byte, 8)}}, nil, `"l" has 8 bytes of data, its shape [2] of F64 needs 16`},
		{"utf8", []Tensor{ok}, map[string]string{"k": "\xff"}, "not valid UTF-8"},
	}
	for _, c := range cases {
		err := Write(io.Discard, c.tensors, c.meta)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want error containing %q", c.name, err, c.want)
		}
	}
}

// TestWriteFileAtomic checks that a failed write leaves the old file whole
// and no temporary file behind.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ck.safetensors")
	if err := WriteFile(path, goldenTensors(), map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	bad := Tensor{Name: "z", DType: F32, Shape: []int{1}, Stream: func(io.Writer) error { return boom }}
	if err := WriteFile(path, []Tensor{bad}, nil); !errors.Is(err, boom) {
		t.Fatalf("got %v, want boom", err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, golden) {
		t.Fatal("old file damaged by a failed write")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
}
