package safetensors

import (
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"testing"
)

// raw assembles a file from a header text and data bytes, unpadded (the
// padding is a writer convention; readers accept any length).
func raw(hdr string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	return append(append(b, hdr...), data...)
}

func TestReadErrors(t *testing.T) {
	ent := func(name, dt, shape, off string) string {
		return `"` + name + `":{"dtype":"` + dt + `","shape":` + shape + `,"data_offsets":` + off + `}`
	}
	a4 := ent("a", "F32", "[1]", "[0,4]")
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"short", []byte{1, 2, 3}, "too short"},
		{"length past end", append(binary.LittleEndian.AppendUint64(nil, 1000), "{}"...), "header length 1000 is larger than the 2 bytes"},
		{"huge length", binary.LittleEndian.AppendUint64(nil, 1<<62), "exceeds"},
		{"invalid json", raw(`{"a":`, nil), "invalid"},
		{"not object", raw(`[]`, nil), "not a JSON object"},
		{"not utf8", raw("{\"\xff\":1}", nil), "UTF-8"},
		{"trailing garbage", raw(`{} x`, nil), "data after the object"},
		{"second object", raw(`{}{}`, nil), "data after the object"},
		{"unknown dtype", raw(`{`+ent("a", "F12", "[1]", "[0,4]")+`}`, make([]byte, 4)), `tensor "a": unknown dtype "F12"`},
		{"negative dim", raw(`{`+ent("a", "F32", "[-1]", "[0,4]")+`}`, make([]byte, 4)), `tensor "a": negative dimension`},
		{"overflow", raw(`{`+ent("a", "F32", "[4294967296,4294967296]", "[0,4]")+`}`, make([]byte, 4)), `tensor "a": shape [4294967296 4294967296] is too large`},
		{"byte count", raw(`{`+ent("a", "F32", "[2]", "[0,4]")+`}`, make([]byte, 4)), `tensor "a": data_offsets [0 4] hold 4 bytes, but shape [2] of F32 needs 8`},
		{"reversed offsets", raw(`{`+ent("a", "F32", "[0]", "[4,0]")+`}`, make([]byte, 4)), `tensor "a": data_offsets [4 0] is not a byte range`},
		{"fractional offset", raw(`{`+ent("a", "F32", "[1]", "[0,4.5]")+`}`, make([]byte, 4)), `tensor "a": invalid header entry`},
		{"missing field", raw(`{"a":{"dtype":"F32","shape":[1]}}`, make([]byte, 4)), `tensor "a": header entry needs`},
		{"truncated", raw(`{`+ent("a", "F32", "[2]", "[0,8]")+`}`, make([]byte, 5)), `tensor "a" ends at byte 8 but the data buffer holds only 5 bytes`},
		{"overlap", raw(`{`+a4+","+ent("b", "F32", "[1]", "[0,4]")+`}`, make([]byte, 4)), `tensor "b" (bytes 0-4) overlaps tensor "a"`},
		{"gap", raw(`{`+ent("a", "F32", "[1]", "[4,8]")+`}`, make([]byte, 8)), `tensor "a" starts at byte 4, leaving a gap`},
		{"trailing bytes", raw(`{`+a4+`}`, make([]byte, 8)), "tensors cover 4 bytes but the data buffer holds 8"},
		{"duplicate", raw(`{`+a4+","+ent("a", "F32", "[0]", "[4,4]")+`}`, make([]byte, 4)), `header names "a" twice`},
		{"bad metadata", raw(`{"__metadata__":{"k":1}}`, nil), "invalid __metadata__"},
	}
	for _, c := range cases {
		_, err := Read(c.file)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want error containing %q", c.name, err, c.want)
		}
	}
	// Well-formed edge cases the checks must not reject.
	for _, ok := range []string{`{}`, `{"__metadata__":null}`, `{"__metadata__":{}}  `, `{` + ent("z", "U8", "[0]", "[0,0]") + `}`} {
		if _, err := Read(raw(ok, nil)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// TestNonFloatDType checks that other standard dtypes are kept as bytes
// and that converting them names the tensor and dtype.
func TestNonFloatDType(t *testing.T) {
	f, err := Read(raw(`{"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`, make([]byte, 8)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Tensors["ids"].Float64s(); err == nil || !strings.Contains(err.Error(), `tensor "ids": dtype I64 is not a float type`) {
		t.Fatalf("got %v", err)
	}
	if _, err := f.Tensors["ids"].Float32s(); err == nil || !strings.Contains(err.Error(), `"ids"`) {
		t.Fatalf("got %v", err)
	}
}

// halfRef evaluates a binary16 (ebits=5, mbits=10, bias 15) or bfloat16
// (8, 7, 127) bit pattern from the IEEE 754 definition.
func halfRef(h uint16, ebits, mbits uint, bias int) float64 {
	sign := 1.0
	if h>>15 == 1 {
		sign = -1
	}
	e := int(h>>mbits) & (1<<ebits - 1)
	m := float64(h & (1<<mbits - 1))
	scale := math.Ldexp(1, -int(mbits))
	switch e {
	case 0:
		return sign * m * scale * math.Ldexp(1, 1-bias)
	case 1<<ebits - 1:
		if m == 0 {
			return math.Inf(int(sign))
		}
		return math.NaN()
	}
	return sign * (1 + m*scale) * math.Ldexp(1, e-bias)
}

// TestHalfExhaustive compares every F16 and BF16 bit pattern with the
// definition; conversion to float32 is exact, so equality is required.
func TestHalfExhaustive(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		for _, c := range []struct {
			got  float32
			want float64
			kind string
		}{
			{HalfToFloat32(h), halfRef(h, 5, 10, 15), "F16"},
			{BFloat16ToFloat32(h), halfRef(h, 8, 7, 127), "BF16"},
		} {
			g := float64(c.got)
			if math.IsNaN(c.want) != math.IsNaN(g) || (!math.IsNaN(g) && (g != c.want || math.Signbit(g) != math.Signbit(c.want))) {
				t.Fatalf("%s %#04x: got %v want %v", c.kind, h, g, c.want)
			}
		}
	}
	// Through a file: F16 1.0, -2.0 and BF16 65280 (0x477f), F64 rounded to F32.
	f, err := Read(raw(`{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[],"data_offsets":[4,6]},"d":{"dtype":"F64","shape":[],"data_offsets":[6,14]}}`,
		[]byte{0x00, 0x3c, 0x00, 0xc0, 0x7f, 0x47, 0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9, 0x3f}))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := f.Tensors["h"].Float32s()
	b, _ := f.Tensors["b"].Float64s()
	d, _ := f.Tensors["d"].Float32s()
	if h[0] != 1 || h[1] != -2 || b[0] != 65280 || d[0] != float32(0.1) {
		t.Fatalf("h=%v b=%v d=%v", h, b, d)
	}
}

// TestReadTorchFile reads testdata/torch.safetensors, written by PyTorch
// 2.11's safetensors 0.8.0 save_file from
//
//	w32 = arange(12, float32).reshape(3, 4) / 7;  w64 = [pi, -1e-300] (float64)
//	h16 = [1, -2, 65504, 6e-8, 0.1] (float16);    bf = [1.5, -3, 0.1] (bfloat16)
//	s = tensor(2.5);  z = zeros(0, 2);  i64 = [1, 2] (int64)
//
// with metadata {"format": "pt", "k": "v"}. Expected values are the
// tensors' exact values as PyTorch printed them in float64.
func TestReadTorchFile(t *testing.T) {
	f, err := ReadFile("testdata/torch.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	w32 := make([]float64, 12)
	for i := range w32 {
		w32[i] = float64(float32(i) / 7) // IEEE division, as torch does it
	}
	want := map[string]struct {
		dt    DType
		shape []int
		data  []float64
	}{
		"w32": {F32, []int{3, 4}, w32},
		"w64": {F64, []int{2}, []float64{math.Pi, -1e-300}},
		"h16": {F16, []int{5}, []float64{1, -2, 65504, 0x1p-24, 0.0999755859375}},
		"bf":  {BF16, []int{3}, []float64{1.5, -3, 0.10009765625}},
		"s":   {F32, []int{}, []float64{2.5}},
		"z":   {F32, []int{0, 2}, []float64{}},
	}
	if f.Metadata["format"] != "pt" || f.Metadata["k"] != "v" || len(f.Tensors) != len(want)+1 {
		t.Fatalf("metadata %v, tensors %v", f.Metadata, f.Names())
	}
	for name, w := range want {
		tt := f.Tensors[name]
		got, err := tt.Float64s()
		if err != nil || tt.DType != w.dt || !slices.Equal(tt.Shape, w.shape) || !slices.Equal(got, w.data) {
			t.Errorf("%s: %s %v %v (err %v), want %s %v %v", name, tt.DType, tt.Shape, got, err, w.dt, w.shape, w.data)
		}
	}
	i64 := f.Tensors["i64"]
	if i64.DType != I64 || binary.LittleEndian.Uint64(i64.Data) != 1 || binary.LittleEndian.Uint64(i64.Data[8:]) != 2 {
		t.Errorf("i64: %s %v", i64.DType, i64.Data)
	}
}
