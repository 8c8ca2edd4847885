package objective

import (
	"math"
	"testing"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// TestDSMOnProjectedData: for mlp-score with PCA, annealed DSM on data x and
// on its projection x − r (the same noise and levels) differ per sample by
// exactly ‖r‖²/σ⁴: the part of the data outside the subspace adds a term the
// parameters cannot change (the model's score there is the Gaussian's), and
// training on the projection removes it. float64, 1e-9 relative: the two
// evaluations differ only by rounding in a few GEMMs.
func TestDSMOnProjectedData(t *testing.T) {
	be := tensor.DefaultCPU()
	m, err := models.Build(models.Spec{Kind: "mlp-score", Options: map[string]any{"input_dim": 6, "hidden": []int{8},
		"num_levels": 3, "sigma_begin": 1.0, "sigma_end": 0.05, "pca": 2}}, be, tensor.Float64, 1)
	if err != nil {
		t.Fatal(err)
	}
	data := be.Empty(tensor.Float32, 40, 6)
	be.Random(data, tensor.Normal(0, 1), tensor.NewRNG(2))
	vals := data.Float32s()
	sm := m.(*models.MLPScore)
	if err := sm.InitFromData(40, func(i int, dst []float32) error { copy(dst, vals[i*6:(i+1)*6]); return nil }); err != nil {
		t.Fatal(err)
	}
	x := be.Empty(tensor.Float64, 5, 6)
	be.Random(x, tensor.Normal(0, 1), tensor.NewRNG(3))
	noise := be.Empty(tensor.Float64, 5, 6)
	be.Random(noise, tensor.Normal(0, 1), tensor.NewRNG(4))
	levels := []int{0, 1, 2, 2, 1}
	obj, err := New("dsm", Options{})
	if err != nil {
		t.Fatal(err)
	}
	tp := ad.NewTape(be)
	px := sm.Project(tp, x)
	raw, err := obj.Eval(tp, m, Batch{X: x, Noise: noise, Levels: levels}, tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	proj, err := obj.Eval(tp, m, Batch{X: px, Noise: noise, Levels: levels}, tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	a, b := raw.PerSample.Value().ToFloat64s(), proj.PerSample.Value().ToFloat64s()
	xs, ps, sig := x.ToFloat64s(), px.ToFloat64s(), sm.Sigmas()
	for i, l := range levels {
		r2 := 0.0
		for j := range 6 {
			r := xs[i*6+j] - ps[i*6+j]
			r2 += r * r
		}
		want := r2 / math.Pow(sig[l], 4)
		if got := a[i] - b[i]; math.Abs(got-want) > 1e-9*want {
			t.Errorf("sample %d (σ %v): raw − projected = %v, want ‖r‖²/σ⁴ = %v", i, sig[l], got, want)
		}
		if r2 < 1e-3 {
			t.Fatalf("sample %d lies in the subspace; the test needs data outside it", i)
		}
	}
}
