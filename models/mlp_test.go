package models

import (
	"math"
	"testing"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

func smallMLP(t *testing.T, dt tensor.DType) *MLP {
	t.Helper()
	m, err := Build(Spec{Kind: "mlp", Options: map[string]any{"input_dim": 4, "hidden": []int{5, 3}}}, tensor.DefaultCPU(), dt, 2)
	if err != nil {
		t.Fatal(err)
	}
	return m.(*MLP)
}

// TestMLPMatchesDirectComputation: E(x) against a plain float64 loop over
// the same weights; names and layouts are PyTorch's.
func TestMLPMatchesDirectComputation(t *testing.T) {
	m := smallMLP(t, tensor.Float64)
	names := []string{"layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias", "layers.2.weight", "layers.2.bias"}
	for i, p := range m.Params() {
		if p.Name != names[i] {
			t.Fatalf("param %d named %s, want %s", i, p.Name, names[i])
		}
	}
	if s := m.Params()[0].Value.Shape(); !s.Equal(tensor.Shape{5, 4}) {
		t.Fatalf("layers.0.weight shape %v, want [out in] = [5 4]", s)
	}
	x := mlpBatch(1)
	got := m.LogDensity(ad.NewTape(tensor.DefaultCPU()).Const(x)).Value().ToFloat64s()
	for n := 0; n < 3; n++ {
		h := []float64{x.At(n, 0), x.At(n, 1), x.At(n, 2), x.At(n, 3)}
		for l := 0; l < 3; l++ {
			h = affine(m.Params()[2*l].Value, m.Params()[2*l+1].Value, h)
			if l < 2 {
				for i := range h {
					h[i] = math.Log1p(math.Exp(h[i]))
				}
			}
		}
		if math.Abs(got[n]+h[0]) > 1e-12 {
			t.Errorf("sample %d: log p %v, want -E = %v", n, got[n], -h[0])
		}
	}
}

// TestMLPInit: PyTorch's default bounds U(±1/√fan_in) for weights and biases.
func TestMLPInit(t *testing.T) {
	m, err := Build(Spec{Kind: "mlp"}, tensor.DefaultCPU(), tensor.Float32, 5)
	if err != nil {
		t.Fatal(err)
	}
	w := m.Params()[0].Value.ToFloat64s() // 512 x 784
	bound, maxAbs, sumSq := 1/math.Sqrt(784), 0.0, 0.0
	for _, v := range w {
		maxAbs = math.Max(maxAbs, math.Abs(v))
		sumSq += v * v
	}
	if maxAbs > bound {
		t.Errorf("weight %v outside ±%v", maxAbs, bound)
	}
	// Var of U(-b, b) is b²/3; 401k draws put the sample variance within 1%.
	if v := sumSq / float64(len(w)); math.Abs(v/(bound*bound/3)-1) > 0.01 {
		t.Errorf("weight variance %v, want %v", v, bound*bound/3)
	}
}

func TestMLPGradients(t *testing.T) {
	checkScoreGrads(t, smallMLP(t, tensor.Float64), mlpBatch(6))
}

// TestMLPHeadAndBase: the quadratic head is l1(h)·l2(h) + lq(h²) on the
// last hidden layer, and base_precision p adds exactly ½·p·‖x‖² to the
// energy (checked against a float64 loop over the same weights); both keep
// first and second derivatives right (central differences).
func TestMLPHeadAndBase(t *testing.T) {
	be := tensor.DefaultCPU()
	build := func(opts map[string]any) *MLP {
		t.Helper()
		o := map[string]any{"input_dim": 4, "hidden": []int{5, 3}}
		for k, v := range opts {
			o[k] = v
		}
		m, err := Build(Spec{Kind: "mlp", Options: o}, be, tensor.Float64, 2)
		if err != nil {
			t.Fatal(err)
		}
		return m.(*MLP)
	}
	x := mlpBatch(1)
	energy := func(m *MLP) []float64 {
		tp := ad.NewTape(be)
		lp := m.LogDensity(tp.Const(x)).Value().ToFloat64s()
		for i := range lp {
			lp[i] = -lp[i]
		}
		return lp
	}

	quad := build(map[string]any{"head": "quadratic"})
	byName := map[string]*tensor.Tensor{}
	for _, p := range quad.Params() {
		byName[p.Name] = p.Value
	}
	lin := func(name string, h []float64) []float64 {
		return affine(byName[name+".weight"], byName[name+".bias"], h)
	}
	got := energy(quad)
	for n := 0; n < 3; n++ {
		h := []float64{x.At(n, 0), x.At(n, 1), x.At(n, 2), x.At(n, 3)}
		for _, l := range []string{"layers.0", "layers.1"} {
			h = lin(l, h)
			for i := range h {
				h[i] = math.Log1p(math.Exp(h[i]))
			}
		}
		sq := make([]float64, len(h))
		for i := range h {
			sq[i] = h[i] * h[i]
		}
		want := lin("head.l1", h)[0]*lin("head.l2", h)[0] + lin("head.lq", sq)[0]
		if math.Abs(got[n]-want) > 1e-12 {
			t.Errorf("quadratic head, sample %d: E %v, want %v", n, got[n], want)
		}
	}

	plain, based := energy(build(nil)), build(map[string]any{"base_precision": 100.0})
	withBase := energy(based)
	for n := 0; n < 3; n++ {
		sq := 0.0
		for i := 0; i < 4; i++ {
			sq += x.At(n, i) * x.At(n, i)
		}
		if want := plain[n] + 50*sq; math.Abs(withBase[n]-want) > 1e-9*math.Abs(want) {
			t.Errorf("base_precision, sample %d: E %v, want %v + 50·‖x‖² = %v", n, withBase[n], plain[n], want)
		}
	}

	checkScoreGrads(t, build(map[string]any{"head": "quadratic", "base_precision": 3.0}), x)

	for _, bad := range []map[string]any{{"head": "cubic"}, {"base_precision": -1.0}, {"head": "quadratic", "hidden": []int{}}} {
		o := map[string]any{"input_dim": 4, "hidden": []int{5}}
		for k, v := range bad {
			o[k] = v
		}
		if _, err := Build(Spec{Kind: "mlp", Options: o}, be, tensor.Float64, 2); err == nil {
			t.Errorf("options %v: no error", bad)
		}
	}
}

// mlpBatch is three float64 samples of dimension four, N(0, 1) from seed.
func mlpBatch(seed uint64) *tensor.Tensor {
	be := tensor.DefaultCPU()
	x := be.Empty(tensor.Float64, 3, 4)
	be.Random(x, tensor.Normal(0, 1), tensor.NewRNG(seed))
	return x
}

// affine is the float64 reference of a layer: w·h + b, w laid out [out in].
func affine(w, b *tensor.Tensor, h []float64) []float64 {
	out := make([]float64, w.Dim(0))
	for o := range out {
		out[o] = b.At(o)
		for i := range h {
			out[o] += w.At(o, i) * h[i]
		}
	}
	return out
}

// checkScoreGrads checks, in x and every parameter of m, the derivatives of
// Σ log p(x) and of Σ v·∇x log p(x) (the score's parameter gradient that
// exact DSM takes) against float64 central differences, with CheckGrad's
// default tolerances.
func checkScoreGrads(t *testing.T, m Energy, x *tensor.Tensor) {
	t.Helper()
	v := mlpBatch(7)
	inputs := []*tensor.Tensor{x}
	for _, p := range m.Params() {
		inputs = append(inputs, p.Value)
	}
	first := func(vs []*ad.Var) *ad.Var { return ad.Sum(m.LogDensity(vs[0])) }
	second := func(vs []*ad.Var) *ad.Var {
		g := ad.Grad([]*ad.Var{ad.Sum(m.LogDensity(vs[0]))}, vs[:1], ad.GradOptions{CreateGraph: true})[0]
		return ad.Sum(ad.Mul(vs[0].Tape().Const(v), g))
	}
	for _, c := range []struct {
		name string
		f    func([]*ad.Var) *ad.Var
	}{{"first", first}, {"second", second}} {
		if err := ad.CheckGrad(tensor.DefaultCPU(), c.f, inputs, ad.CheckOptions{}); err != nil {
			t.Errorf("%s derivatives: %v", c.name, err)
		}
	}
}
