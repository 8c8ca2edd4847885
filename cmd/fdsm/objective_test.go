package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/npy"
	"github.com/fdsm-go/fdsm/objective"
	"github.com/fdsm-go/fdsm/safetensors"
	"github.com/fdsm-go/fdsm/tensor"
)

// objFixture is a tiny mlp checkpoint with inputs, all in one temp dir.
type objFixture struct {
	dir, params, x, v, noise string
	shape                    []int // of x
	xs, vs, ns               []float64
}

const fixtureSpec = `{"kind": "mlp", "input_dim": 3, "hidden": [4, 4]}`

func newObjFixture(t *testing.T) objFixture {
	t.Helper()
	dir := t.TempDir()
	spec, err := models.ParseSpec([]byte(fixtureSpec))
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.Build(spec, tensor.DefaultCPU(), tensor.Float64, 7)
	if err != nil {
		t.Fatal(err)
	}
	f := objFixture{dir: dir, params: filepath.Join(dir, "p.safetensors"), shape: []int{5, 3}}
	if err := models.SaveCheckpoint(f.params, m, nil); err != nil {
		t.Fatal(err)
	}
	rng := tensor.NewRNG(11)
	draw := func() []float64 {
		out := make([]float64, 15)
		for i := range out {
			out[i] = rng.NormFloat64()
		}
		return out
	}
	f.xs, f.ns, f.vs = draw(), draw(), draw()
	// v on the sphere of radius 0.1 per sample, as the FD objectives expect.
	for i := 0; i < 5; i++ {
		r := f.vs[3*i : 3*i+3]
		norm := math.Sqrt(r[0]*r[0] + r[1]*r[1] + r[2]*r[2])
		for j := range r {
			r[j] *= 0.1 / norm
		}
	}
	f.x = writeNpy(t, dir, "x.npy", f.shape, f.xs)
	f.v = writeNpy(t, dir, "v.npy", f.shape, f.vs)
	f.noise = writeNpy(t, dir, "n.npy", f.shape, f.ns)
	return f
}

func writeNpy(t *testing.T, dir, name string, shape []int, data []float64) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := npy.WriteFile(p, shape, data, npy.Float64); err != nil {
		t.Fatal(err)
	}
	return p
}

// args returns the command line evaluating method on the fixture with all
// inputs given.
func (f objFixture) args(method string, extra ...string) []string {
	return append([]string{"objective", "--model", "mlp", "--params", f.params,
		"--x", f.x, "--v", f.v, "--noise", f.noise, "--method", method}, extra...)
}

type objOut struct {
	Loss      float64   `json:"loss"`
	PerSample []float64 `json:"per_sample"`
}

func runObj(t *testing.T, args ...string) objOut {
	t.Helper()
	stdout, stderr, err := execute(t, newRootCmd(), args...)
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, stderr)
	}
	var o objOut
	if err := json.Unmarshal([]byte(stdout), &o); err != nil {
		t.Fatalf("output %q is not JSON: %v", stdout, err)
	}
	return o
}

// direct evaluates method in Go on the fixture's checkpoint (optionally
// with one parameter element shifted by h) and returns loss, per-sample
// terms and the parameter gradients.
func (f objFixture) direct(t *testing.T, method string, shiftParam string, shiftIdx int, h float64) (float64, []float64, map[string][]float64) {
	t.Helper()
	be := tensor.DefaultCPU()
	m, err := models.LoadCheckpoint(f.params, be, tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params() {
		if p.Name == shiftParam {
			vals := p.Value.ToFloat64s()
			vals[shiftIdx] += h
			tensor.WriteAs(p.Value, vals)
		}
	}
	obj, err := objective.New(method, objective.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := objective.Batch{
		X:     tensor.FromFloat64s(be, tensor.Float64, f.shape, f.xs),
		V:     tensor.FromFloat64s(be, tensor.Float64, f.shape, f.vs),
		Noise: tensor.FromFloat64s(be, tensor.Float64, f.shape, f.ns),
	}
	tp := ad.NewTape(be)
	defer tp.Reset()
	res, err := obj.Eval(tp, m, b, tensor.NewRNG(0))
	if err != nil {
		t.Fatal(err)
	}
	grads := map[string][]float64{}
	for _, p := range m.Params() {
		grads[p.Name] = ad.Grad1(res.Loss, tp.Param(p))[0].Value().ToFloat64s()
	}
	return res.Loss.Item(), res.PerSample.Value().ToFloat64s(), grads
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// TestObjectiveMatchesDirect runs each method through the command and in
// Go. Both run the same float64 computation in the same order and JSON
// round-trips float64 exactly, so loss, per-sample terms and gradients
// must agree exactly. The loss must be mean(per_sample)·scale with the
// direct call's scale (1e-12 relative: the two means sum in different
// orders). The gradients are also checked against central differences of
// the direct loss (h = 1e-6: truncation O(h²) and rounding ~1e-16/h keep
// the error far below the 1e-6 tolerance for these O(1) smooth losses).
func TestObjectiveMatchesDirect(t *testing.T) {
	f := newObjFixture(t)
	for _, method := range []string{"sm", "ssm", "fd-ssm", "dsm", "fd-dsm"} {
		t.Run(method, func(t *testing.T) {
			out := filepath.Join(f.dir, method+".safetensors")
			got := runObj(t, f.args(method, "--out", out)...)
			loss, per, grads := f.direct(t, method, "", 0, 0)
			if got.Loss != loss || !slices.Equal(got.PerSample, per) {
				t.Fatalf("command: %v %v\ndirect: %v %v", got.Loss, got.PerSample, loss, per)
			}
			scale := loss / mean(per)
			if d := math.Abs(got.Loss - mean(got.PerSample)*scale); d > 1e-12*math.Abs(got.Loss) {
				t.Errorf("loss %v is not mean(per_sample)·%v", got.Loss, scale)
			}
			file, err := safetensors.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if len(file.Tensors) != len(grads) {
				t.Errorf("gradient file has %v, want %d tensors", file.Names(), len(grads))
			}
			m, _ := models.LoadCheckpoint(f.params, tensor.DefaultCPU(), 0)
			for _, p := range m.Params() {
				g, ok := file.Tensors[p.Name]
				if !ok {
					t.Fatalf("gradient of %s missing", p.Name)
				}
				if !slices.Equal(g.Shape, p.Value.Shape()) || g.DType != safetensors.F64 {
					t.Errorf("%s: %v %s, want %v F64", p.Name, g.Shape, g.DType, p.Value.Shape())
				}
				vals, _ := g.Float64s()
				if !slices.Equal(vals, grads[p.Name]) {
					t.Errorf("%s: gradient %v, direct %v", p.Name, vals, grads[p.Name])
				}
				for _, i := range []int{0, len(vals) - 1} {
					const h = 1e-6
					lp, _, _ := f.direct(t, method, p.Name, i, h)
					lm, _, _ := f.direct(t, method, p.Name, i, -h)
					num := (lp - lm) / (2 * h)
					if math.Abs(num-vals[i]) > 1e-6*math.Max(1, math.Abs(num)) {
						t.Errorf("%s[%d]: gradient %v, central difference %v", p.Name, i, vals[i], num)
					}
				}
			}
		})
	}
}

// TestObjectiveSpecSources: the spec from the metadata (kind name or no
// --model), from a spec file, inline, and inferred from the layer shapes
// of a file without metadata all give the same model and so the same loss.
func TestObjectiveSpecSources(t *testing.T) {
	f := newObjFixture(t)
	want := runObj(t, f.args("sm")...)

	specFile := filepath.Join(f.dir, "spec.yaml")
	if err := os.WriteFile(specFile, []byte("kind: mlp\ninput_dim: 3\nhidden: [4, 4]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The same tensors without any metadata.
	bare := filepath.Join(f.dir, "bare.safetensors")
	file, err := safetensors.ReadFile(f.params)
	if err != nil {
		t.Fatal(err)
	}
	var list []safetensors.Tensor
	for _, n := range file.Names() {
		list = append(list, file.Tensors[n])
	}
	if err := safetensors.WriteFile(bare, list, nil); err != nil {
		t.Fatal(err)
	}
	common := []string{"--x", f.x, "--method", "sm"}
	for name, args := range map[string][]string{
		"no --model":    {"--params", f.params},
		"spec file":     {"--model", specFile, "--params", f.params},
		"inline spec":   {"--model", fixtureSpec, "--params", f.params},
		"inferred":      {"--model", "mlp", "--params", bare},
		"spec for bare": {"--model", specFile, "--params", bare},
	} {
		got := runObj(t, append(append([]string{"objective"}, args...), common...)...)
		if got.Loss != want.Loss || !slices.Equal(got.PerSample, want.PerSample) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}

	for name, c := range map[string]struct {
		args []string
		want []string
	}{
		"no metadata, no --model": {[]string{"--params", bare}, []string{"--model not given", bare}},
		"other kind":              {[]string{"--model", "nice", "--params", f.params}, []string{"holds a mlp model, not nice", "spec file"}},
		"kind, no metadata":       {[]string{"--model", "dkef", "--params", bare}, []string{"no \"fdsm.spec\" metadata", "spec file"}},
		"bad spec":                {[]string{"--model", "kind: mlp\ninput_dim: 7", "--params", f.params}, []string{"--params", "does not match", "layers.0.weight"}},
	} {
		_, _, err := execute(t, newRootCmd(), append(append([]string{"objective"}, c.args...), common...)...)
		checkErr(t, name, err, c.want...)
	}
}

// TestObjectiveImageInput: a [C,H,W] model takes x as [n,C,H,W] or
// flattened [n,C·H·W] (and v, noise likewise), with identical results.
func TestObjectiveImageInput(t *testing.T) {
	dir := t.TempDir()
	spec, err := models.ParseSpec([]byte(`{"kind": "resnet_ebm", "in_channels": 1, "image_size": 4, "n_chan": 2, "blocks": [{"out": 2, "down": false}]}`))
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.Build(spec, tensor.DefaultCPU(), tensor.Float64, 3)
	if err != nil {
		t.Fatal(err)
	}
	params := filepath.Join(dir, "p.safetensors")
	if err := models.SaveCheckpoint(params, m, nil); err != nil {
		t.Fatal(err)
	}
	rng := tensor.NewRNG(5)
	xs, ns := make([]float64, 2*16), make([]float64, 2*16)
	for i := range xs {
		xs[i], ns[i] = rng.NormFloat64(), rng.NormFloat64()
	}
	x4 := writeNpy(t, dir, "x4.npy", []int{2, 1, 4, 4}, xs)
	x2 := writeNpy(t, dir, "x2.npy", []int{2, 16}, xs)
	n4 := writeNpy(t, dir, "n4.npy", []int{2, 1, 4, 4}, ns)
	n2 := writeNpy(t, dir, "n2.npy", []int{2, 16}, ns)
	a := runObj(t, "objective", "--params", params, "--x", x4, "--noise", n4, "--method", "dsm")
	b := runObj(t, "objective", "--params", params, "--x", x2, "--noise", n2, "--method", "dsm")
	c := runObj(t, "objective", "--params", params, "--x", x2, "--noise", n4, "--method", "dsm")
	if a.Loss != b.Loss || a.Loss != c.Loss || len(a.PerSample) != 2 {
		t.Errorf("[n,1,4,4]: %v; [n,16]: %v; mixed: %v", a, b, c)
	}
	bad := writeNpy(t, dir, "bad.npy", []int{2, 4, 4}, xs)
	_, _, err = execute(t, newRootCmd(), "objective", "--params", params, "--x", bad, "--method", "dsm")
	checkErr(t, "[n,4,4] x", err, bad, "[2 4 4]", "[n 1 4 4]", "[n 16]")
}

// TestObjectiveFloat32: --dtype float32 evaluates in float32 and writes F32
// gradients close to the float64 ones (1e-3 relative: float32 rounding of
// a few dozen operations on O(1) values).
func TestObjectiveFloat32(t *testing.T) {
	f := newObjFixture(t)
	out32 := filepath.Join(f.dir, "g32.safetensors")
	out64 := filepath.Join(f.dir, "g64.safetensors")
	a := runObj(t, f.args("dsm", "--dtype", "float32", "--out", out32)...)
	b := runObj(t, f.args("dsm", "--out", out64)...)
	if math.Abs(a.Loss-b.Loss) > 1e-3*math.Abs(b.Loss) {
		t.Errorf("float32 loss %v, float64 %v", a.Loss, b.Loss)
	}
	g32, err1 := safetensors.ReadFile(out32)
	g64, err2 := safetensors.ReadFile(out64)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	for name, t64 := range g64.Tensors {
		t32 := g32.Tensors[name]
		if t32.DType != safetensors.F32 {
			t.Errorf("%s: dtype %s, want F32", name, t32.DType)
		}
		v32, _ := t32.Float64s()
		v64, _ := t64.Float64s()
		for i := range v64 {
			if math.Abs(v32[i]-v64[i]) > 1e-3*math.Max(1, math.Abs(v64[i])) {
				t.Errorf("%s[%d]: float32 %v, float64 %v", name, i, v32[i], v64[i])
			}
		}
	}
}

// TestObjectiveDrawn: inputs not given are drawn from the --seed RNG, so
// the same seed repeats the result and another seed changes it.
func TestObjectiveDrawn(t *testing.T) {
	f := newObjFixture(t)
	args := []string{"objective", "--params", f.params, "--x", f.x, "--method", "fd-ssm"}
	a := runObj(t, args...)
	b := runObj(t, args...)
	c := runObj(t, append(args, "--seed", "9")...)
	if a.Loss != b.Loss || a.Loss == c.Loss {
		t.Errorf("seed 0: %v and %v; seed 9: %v", a.Loss, b.Loss, c.Loss)
	}
}
