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
	be := tensor.DefaultCPU()
	x := be.Empty(tensor.Float64, 3, 4)
	be.Random(x, tensor.Normal(0, 1), tensor.NewRNG(1))
	tp := ad.NewTape(be)
	got := m.LogDensity(tp.Const(x)).Value().ToFloat64s()
	for n := 0; n < 3; n++ {
		h := []float64{x.At(n, 0), x.At(n, 1), x.At(n, 2), x.At(n, 3)}
		for l := 0; l < 3; l++ {
			w, b := m.Params()[2*l].Value, m.Params()[2*l+1].Value
			out := make([]float64, w.Dim(0))
			for o := range out {
				out[o] = b.At(o)
				for i := range h {
					out[o] += w.At(o, i) * h[i]
				}
				if l < 2 {
					out[o] = math.Log1p(math.Exp(out[o]))
				}
			}
			h = out
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
	m := smallMLP(t, tensor.Float64)
	be := tensor.DefaultCPU()
	x := be.Empty(tensor.Float64, 3, 4)
	be.Random(x, tensor.Normal(0, 1), tensor.NewRNG(6))
	v := be.Empty(tensor.Float64, 3, 4)
	be.Random(v, tensor.Normal(0, 1), tensor.NewRNG(7))
	inputs := []*tensor.Tensor{x}
	for _, p := range m.Params() {
		inputs = append(inputs, p.Value)
	}
	first := func(vs []*ad.Var) *ad.Var { return ad.Sum(m.LogDensity(vs[0])) }
	if err := ad.CheckGrad(be, first, inputs, ad.CheckOptions{}); err != nil {
		t.Error(err)
	}
	second := func(vs []*ad.Var) *ad.Var {
		g := ad.Grad([]*ad.Var{ad.Sum(m.LogDensity(vs[0]))}, vs[:1], ad.GradOptions{CreateGraph: true})[0]
		return ad.Sum(ad.Mul(vs[0].Tape().Const(v), g))
	}
	if err := ad.CheckGrad(be, second, inputs, ad.CheckOptions{}); err != nil {
		t.Error(err)
	}
}
