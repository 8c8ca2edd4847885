package models

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/safetensors"
	"github.com/fdsm-go/fdsm/tensor"
)

func ckSpec() Spec {
	return Spec{Kind: "mlp", Options: map[string]any{"input_dim": 5, "hidden": []int{4, 3}}}
}

func buildCk(t testing.TB, dt tensor.DType, seed uint64) Model {
	t.Helper()
	m, err := Build(ckSpec(), tensor.DefaultCPU(), dt, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func values(t *tensor.Tensor) []float64 {
	return t.ToFloat64s()
}

// sameBits reports whether two models' parameters agree bit for bit
// (float32 values download to float64 exactly, so comparing float64 bits
// compares the float32 bits).
func sameBits(a, b Model) bool {
	pa, pb := a.Params(), b.Params()
	if len(pa) != len(pb) {
		return false
	}
	for i := range pa {
		va, vb := values(pa[i].Value), values(pb[i].Value)
		if pa[i].Name != pb[i].Name || len(va) != len(vb) {
			return false
		}
		for j := range va {
			if math.Float64bits(va[j]) != math.Float64bits(vb[j]) {
				return false
			}
		}
	}
	return true
}

func specJSON(t *testing.T, m Model) string {
	b, err := json.Marshal(m.Spec())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCheckpointRoundTrip(t *testing.T) {
	be := tensor.DefaultCPU()
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		m := buildCk(t, dt, 7)
		path := filepath.Join(t.TempDir(), "ck.safetensors")
		if err := SaveCheckpoint(path, m, map[string]string{"step": "12"}); err != nil {
			t.Fatal(err)
		}
		// The file is a plain state_dict: PyTorch names, shapes and dtype.
		f, err := safetensors.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		w := f.Tensors["layers.0.weight"]
		if w.DType != fileDType(dt) || len(w.Shape) != 2 || w.Shape[0] != 4 || w.Shape[1] != 5 || len(f.Tensors) != 6 {
			t.Fatalf("%v: file holds %v; layers.0.weight %s %v", dt, f.Names(), w.DType, w.Shape)
		}
		if f.Metadata["format"] != "pt" || f.Metadata["step"] != "12" || f.Metadata[MetaDType] != dt.String() {
			t.Fatalf("%v: metadata %v", dt, f.Metadata)
		}
		got, err := LoadCheckpoint(path, be, 0) // 0: the saved dtype
		if err != nil {
			t.Fatal(err)
		}
		if got.DType() != dt || !sameBits(m, got) || specJSON(t, got) != specJSON(t, m) {
			t.Fatalf("%v: round trip changed the model (dtype %v, spec %s)", dt, got.DType(), specJSON(t, got))
		}
		other := buildCk(t, dt, 99)
		if err := LoadParams(path, other); err != nil || !sameBits(m, other) {
			t.Fatalf("%v: LoadParams: %v", dt, err)
		}
	}
}

// TestCheckpointCrossDType loads a float64 file into a float32 model (each
// value rounded to nearest float32) and a float32 file into a float64 model
// (exact).
func TestCheckpointCrossDType(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ from, to tensor.DType }{{tensor.Float64, tensor.Float32}, {tensor.Float32, tensor.Float64}} {
		m := buildCk(t, c.from, 3)
		path := filepath.Join(dir, c.from.String())
		if err := SaveCheckpoint(path, m, nil); err != nil {
			t.Fatal(err)
		}
		got, err := LoadCheckpoint(path, tensor.DefaultCPU(), c.to)
		if err != nil {
			t.Fatal(err)
		}
		if got.DType() != c.to {
			t.Fatalf("dtype %v, want %v", got.DType(), c.to)
		}
		for i, p := range m.Params() {
			want, have := values(p.Value), values(got.Params()[i].Value)
			for j := range want {
				if float32(want[j]) != float32(have[j]) || (c.to == tensor.Float64 && want[j] != have[j]) {
					t.Fatalf("%v->%v %s[%d]: %v became %v", c.from, c.to, p.Name, j, want[j], have[j])
				}
			}
		}
	}
}

// writeHand writes m's state by hand with the safetensors package, after
// edit has changed the tensor list or metadata.
func writeHand(t *testing.T, m Model, edit func([]safetensors.Tensor, map[string]string) []safetensors.Tensor) string {
	t.Helper()
	var list []safetensors.Tensor
	for _, p := range m.Params() {
		list = append(list, safetensors.FromFloat64s(p.Name, p.Value.Shape(), values(p.Value)))
	}
	spec, _ := json.Marshal(m.Spec())
	meta := map[string]string{MetaFormat: "pt", MetaSpec: string(spec), MetaDType: "float64"}
	path := filepath.Join(t.TempDir(), "hand.safetensors")
	if err := safetensors.WriteFile(path, edit(list, meta), meta); err != nil {
		t.Fatal(err)
	}
	return path
}

func wantErr(t *testing.T, what string, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Fatalf("%s: error %q lacks %q", what, err, s)
		}
	}
}

func TestCheckpointMismatch(t *testing.T) {
	m := buildCk(t, tensor.Float64, 1)
	find := func(l []safetensors.Tensor, name string) int {
		for i := range l {
			if l[i].Name == name {
				return i
			}
		}
		t.Fatalf("no %s", name)
		return -1
	}
	cases := []struct {
		name string
		edit func([]safetensors.Tensor, map[string]string) []safetensors.Tensor
		subs []string
	}{
		{"wrong shape", func(l []safetensors.Tensor, _ map[string]string) []safetensors.Tensor {
			l[find(l, "layers.1.weight")].Shape = []int{4, 3} // same count, transposed
			return l
		}, []string{`tensor "layers.1.weight" has shape [4 3] in the file but [3 4] in the model`}},
		{"missing", func(l []safetensors.Tensor, _ map[string]string) []safetensors.Tensor {
			i := find(l, "layers.2.bias")
			return append(l[:i], l[i+1:]...)
		}, []string{`missing tensor "layers.2.bias"`}},
		{"extra", func(l []safetensors.Tensor, _ map[string]string) []safetensors.Tensor {
			return append(l, safetensors.FromFloat32s("layers.9.weight", []int{1}, []float32{1}))
		}, []string{`unexpected tensor "layers.9.weight"`}},
		{"integer dtype", func(l []safetensors.Tensor, _ map[string]string) []safetensors.Tensor {
			l[find(l, "layers.0.bias")] = safetensors.Tensor{Name: "layers.0.bias", DType: safetensors.I32, Shape: []int{4}, Data: make([]byte, 16)}
			return l
		}, []string{`tensor "layers.0.bias" has dtype I32`}},
	}
	for _, c := range cases {
		path := writeHand(t, m, c.edit)
		_, err := LoadCheckpoint(path, tensor.DefaultCPU(), tensor.Float64)
		wantErr(t, c.name, err, c.subs...)
		// A mismatched file leaves an existing model untouched.
		target := buildCk(t, tensor.Float64, 5)
		before := buildCk(t, tensor.Float64, 5)
		wantErr(t, c.name+" (LoadParams)", LoadParams(path, target), c.subs...)
		if !sameBits(target, before) {
			t.Fatalf("%s: failed load changed the model", c.name)
		}
	}
	// Metadata problems: LoadCheckpoint needs the spec, LoadParams does not.
	noSpec := writeHand(t, m, func(l []safetensors.Tensor, meta map[string]string) []safetensors.Tensor {
		delete(meta, MetaSpec)
		return l
	})
	_, err := LoadCheckpoint(noSpec, tensor.DefaultCPU(), 0)
	wantErr(t, "no spec", err, MetaSpec)
	if err := LoadParams(noSpec, buildCk(t, tensor.Float64, 2)); err != nil {
		t.Fatalf("LoadParams without spec: %v", err)
	}
	badSpec := writeHand(t, m, func(l []safetensors.Tensor, meta map[string]string) []safetensors.Tensor {
		meta[MetaSpec] = `{"kind": "mlp", "hidden": [4, 3`
		return l
	})
	_, err = LoadCheckpoint(badSpec, tensor.DefaultCPU(), 0)
	wantErr(t, "bad spec", err, "invalid", MetaSpec)
	badKind := writeHand(t, m, func(l []safetensors.Tensor, meta map[string]string) []safetensors.Tensor {
		meta[MetaSpec] = `{"kind": "nosuch"}`
		return l
	})
	_, err = LoadCheckpoint(badKind, tensor.DefaultCPU(), tensor.Float32)
	wantErr(t, "bad kind", err, `unknown model kind "nosuch"`)
	wantErr(t, "reserved extra", SaveCheckpoint(filepath.Join(t.TempDir(), "x"), m, map[string]string{"format": "tf"}), `reserved key "format"`)
}

// TestCheckpointCorrupt damages a saved file: every damage must be refused
// with an error saying what is wrong.
func TestCheckpointCorrupt(t *testing.T) {
	m := buildCk(t, tensor.Float32, 4)
	dir := t.TempDir()
	path := filepath.Join(dir, "ck.safetensors")
	if err := SaveCheckpoint(path, m, nil); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	nameAt := bytes.Index(good, []byte(`"layers.1.bias"`)) + len(`"layers.1.`) // the b
	cases := []struct {
		name string
		file func() []byte
		subs []string
	}{
		{"truncated data", func() []byte { return good[:len(good)-3] }, []string{"truncated"}},
		{"truncated header", func() []byte { return good[:20] }, []string{"header length", "truncated"}},
		{"empty", func() []byte { return nil }, []string{"too short"}},
		{"flipped length byte", func() []byte { return flip(good, 1) }, []string{"header length"}},
		{"flipped brace", func() []byte { return flip(good, 8) }, []string{"not a JSON object"}},
		{"flipped name byte", func() []byte { return flip(good, nameAt) }, []string{`missing tensor "layers.1.bias"`, "unexpected tensor"}},
		{"flipped padding", func() []byte { return flip(good, 8+int(binary.LittleEndian.Uint64(good))-1) }, []string{"invalid header JSON"}},
	}
	for _, c := range cases {
		p := filepath.Join(dir, "bad")
		if err := os.WriteFile(p, c.file(), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadCheckpoint(p, tensor.DefaultCPU(), 0)
		wantErr(t, c.name, err, c.subs...)
	}
}

// flip returns a copy of b with the low bit of byte i inverted: ASCII stays
// ASCII, so the UTF-8 check does not mask the failure under test.
func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

// bufModel is an MLP with a buffer, as a model with running statistics has.
type bufModel struct {
	*MLP
	bufs map[string]*tensor.Tensor
}

func (b bufModel) Buffers() map[string]*tensor.Tensor { return b.bufs }

func newBufModel(t *testing.T, v float64, bufName string) bufModel {
	be := tensor.DefaultCPU()
	return bufModel{buildCk(t, tensor.Float32, 1).(*MLP),
		map[string]*tensor.Tensor{bufName: tensor.FromFloat64s(be, tensor.Float32, tensor.Shape{2}, []float64{v, -v})}}
}

func TestCheckpointBuffers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ck")
	if err := SaveCheckpoint(path, newBufModel(t, 2.5, "stats.running_mean"), nil); err != nil {
		t.Fatal(err)
	}
	dst := newBufModel(t, 0, "stats.running_mean")
	if err := LoadParams(path, dst); err != nil {
		t.Fatal(err)
	}
	if v := values(dst.bufs["stats.running_mean"]); v[0] != 2.5 || v[1] != -2.5 {
		t.Fatalf("buffer loaded as %v", v)
	}
	// An MLP without the buffer must refuse the file rather than drop it.
	_, err := LoadCheckpoint(path, tensor.DefaultCPU(), 0)
	wantErr(t, "buffer in file, not model", err, `unexpected tensor "stats.running_mean"`)
	err = SaveCheckpoint(path, newBufModel(t, 1, "layers.0.bias"), nil)
	wantErr(t, "buffer named like a parameter", err, `"layers.0.bias" twice`)
}

// TestCheckpointStreams checks that saving and loading hold no whole copy
// of the state in memory: bytes allocated stay below half the file's size
// (scratch is sized by the largest tensor, here 1/13 of the state, plus
// fixed I/O buffers of under 1 MiB).
func TestCheckpointStreams(t *testing.T) {
	be := tensor.DefaultCPU()
	spec := Spec{Kind: "mlp", Options: map[string]any{"input_dim": 256, "hidden": slices.Repeat([]int{256}, 12)}}
	m, err := Build(spec, be, tensor.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "big")
	size := int64(4 * NumParams(m))
	allocated := func(f func() error) int64 {
		var a, b runtime.MemStats
		runtime.ReadMemStats(&a)
		if err := f(); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&b)
		return int64(b.TotalAlloc - a.TotalAlloc)
	}
	for _, c := range []struct {
		what string
		f    func() error
	}{
		{"saving", func() error { return SaveCheckpoint(path, m, nil) }},
		{"loading", func() error { return LoadParams(path, m) }},
	} {
		n := allocated(c.f)
		t.Logf("%s %d bytes of state allocated %d bytes", c.what, size, n)
		if n > size/2 {
			t.Errorf("%s %d bytes of state allocated %d bytes", c.what, size, n)
		}
	}
}

// BenchmarkCheckpoint saves and loads a 63M-parameter float32 MLP (252 MB),
// the size of the paper's largest models.
func BenchmarkCheckpoint(b *testing.B) {
	be := tensor.DefaultCPU()
	spec := Spec{Kind: "mlp", Options: map[string]any{"input_dim": 2048, "hidden": slices.Repeat([]int{2048}, 15)}}
	m, err := Build(spec, be, tensor.Float32, 1)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "big")
	b.SetBytes(int64(4 * NumParams(m)))
	for b.Loop() {
		if err := SaveCheckpoint(path, m, nil); err != nil {
			b.Fatal(err)
		}
		if err := LoadParams(path, m); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLoadRefusesNonFinite: a file holding NaN or Inf is refused, naming
// the tensor, and the model keeps its values.
func TestLoadRefusesNonFinite(t *testing.T) {
	be := tensor.DefaultCPU()
	spec := Spec{Kind: "mlp", Options: map[string]any{"input_dim": 3, "hidden": []int{4}}}
	src, _ := Build(spec, be, tensor.Float64, 1)
	dst, _ := Build(spec, be, tensor.Float64, 2)
	last := src.Params()[len(src.Params())-1]
	v := last.Value.ToFloat64s()
	v[0] = math.NaN()
	tensor.WriteAs(last.Value, v)
	path := filepath.Join(t.TempDir(), "nan.safetensors")
	if err := SaveCheckpoint(path, src, nil); err != nil {
		t.Fatal(err)
	}
	before := dst.Params()[0].Value.ToFloat64s()
	err := LoadParams(path, dst)
	if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), last.Name) || !strings.Contains(err.Error(), path) {
		t.Fatalf("loading a NaN: %v", err)
	}
	if !slices.Equal(before, dst.Params()[0].Value.ToFloat64s()) {
		t.Fatal("a refused file changed the model")
	}
	if _, err := LoadCheckpoint(path, be, 0); !errors.Is(err, ErrNonFinite) {
		t.Fatalf("LoadCheckpoint of a NaN: %v", err)
	}
}
