package trainer

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// pcaScore is a small mlp-score on 6 values whose PCA subspace (2
// components) is fitted to random data.
func pcaScore(t *testing.T) *models.MLPScore {
	t.Helper()
	m, err := models.Build(models.Spec{Kind: "mlp-score", Options: map[string]any{"input_dim": 6, "hidden": []int{8},
		"num_levels": 3, "sigma_begin": 1.0, "sigma_end": 0.1, "pca": 2}}, tensor.DefaultCPU(), tensor.Float64, 1)
	if err != nil {
		t.Fatal(err)
	}
	s := m.(*models.MLPScore)
	be := tensor.DefaultCPU()
	data := be.Empty(tensor.Float32, 50, 6)
	be.Random(data, tensor.Normal(0, 1), tensor.NewRNG(3))
	vals := data.Float32s()
	if err := s.InitFromData(50, func(i int, dst []float32) error { copy(dst, vals[i*6:(i+1)*6]); return nil }); err != nil {
		t.Fatal(err)
	}
	return s
}

// outside is the largest distance of a sample from m's PCA subspace.
func outside(m *models.MLPScore, x *tensor.Tensor) float64 {
	bufs := m.Buffers()
	mean, comps := bufs["pca.mean"].ToFloat64s(), bufs["pca.components"].ToFloat64s()
	xs, worst := x.ToFloat64s(), 0.0
	for i := 0; i < x.Dim(0); i++ {
		y := make([]float64, 6)
		for j := range y {
			y[j] = xs[i*6+j] - mean[j]
		}
		for q := range 2 {
			dot := 0.0
			for j := range y {
				dot += comps[j*2+q] * xs[i*6+j]
			}
			for j := range y {
				dot -= comps[j*2+q] * mean[j]
			}
			for j := range y {
				y[j] -= comps[j*2+q] * dot
			}
		}
		for _, v := range y {
			worst = math.Max(worst, math.Abs(v))
		}
	}
	return worst
}

// TestDrawSamplesScoreOptions: a score network's samples take the config's
// eps (the annealed step) and denoise (Tweedie's final step, one more model
// evaluation): with it the samples of a PCA score network lie in its
// subspace, without it they keep the last level's noise outside it.
func TestDrawSamplesScoreOptions(t *testing.T) {
	m := pcaScore(t)
	c := SamplesConfig{StepsPerLevel: 5, Eps: 1e-3, Denoise: 1}
	if got, want := c.SampleSteps(m), 3*5+1; got != want {
		t.Fatalf("SampleSteps %d, want %d", got, want)
	}
	total := 0
	x, err := DrawSamples(m, c, 8, 1, func(_, tot int) { total = tot })
	if err != nil {
		t.Fatal(err)
	}
	if total != 16 {
		t.Errorf("progress total %d, want 16", total)
	}
	if d := outside(m, x); d > 1e-12 {
		t.Errorf("denoised samples lie %v outside the subspace", d)
	}
	c.Denoise = 0
	noisy, err := DrawSamples(m, c, 8, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := outside(m, noisy); d < 0.01 {
		t.Errorf("without the denoising step the samples lie only %v outside the subspace", d)
	}
	c.Eps = 2e-3
	other, err := DrawSamples(m, c, 8, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := noisy.ToFloat64s(), other.ToFloat64s(); a[0] == b[0] && a[1] == b[1] {
		t.Error("samples.eps did not change the annealed step")
	}
	c.Eps = -1
	if _, err := DrawSamples(m, c, 8, 1, nil); err == nil || !strings.Contains(err.Error(), "eps") {
		t.Errorf("negative eps: %v", err)
	}
}

// TestTrainOnProjectedData: the trainer takes the objective on the PCA
// model's projection of each batch. On 2-D data with one component and
// σ_L = 0.01 the part of the data off the component would add about
// ½‖r‖²/σ² ≈ 10⁴ at the smallest level; the loss of the projected data
// stays that of a 1-D score network, below 50.
func TestTrainOnProjectedData(t *testing.T) {
	c := toyConfig("dsm", 20)
	c.Model = map[string]any{"kind": "mlp-score", "input_dim": 2, "hidden": []any{16}, "num_levels": 3,
		"sigma_begin": 10, "sigma_end": 0.01, "pca": 1}
	c.LogEvery = 1
	c.Validation = ValidationConfig{Data: "toy:gmm2d-8", Every: 10, Batches: 2}
	var log bytes.Buffer
	s, err := Run{Config: c, Dir: t.TempDir(), Log: zerolog.New(&log)}.Train(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !(s.LastLoss < 50) {
		t.Fatalf("loss %v: the batch was not projected onto the model's subspace", s.LastLoss)
	}
	seen := 0
	for _, line := range strings.Split(log.String(), "\n") {
		var e struct {
			ValLoss *float64 `json:"val_loss"`
		}
		if json.Unmarshal([]byte(line), &e) == nil && e.ValLoss != nil {
			seen++
			if !(*e.ValLoss < 50) {
				t.Errorf("validation loss %v: the held-out batches were not projected", *e.ValLoss)
			}
		}
	}
	if seen == 0 {
		t.Fatalf("no validation in the log:\n%s", log.String())
	}
}
