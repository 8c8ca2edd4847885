package objective

import (
	"math"
	"testing"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// TestNoiseLevelsDrawnOnDevice: drawn levels are one-hot rows, uniform over
// the L levels (each count within 5 standard errors of n/L, √(n·p(1-p)) =
// 42 for n = 20000, p = 0.1: a correct draw fails with probability 6e-7 per
// level), with σ_y the level's σ; given levels are used as given.
func TestNoiseLevelsDrawnOnDevice(t *testing.T) {
	m, err := models.Build(models.Spec{Kind: "ncsn", Options: map[string]any{"channels": 1, "image_size": 4, "ngf": 2, "num_levels": 10}}, cpu, tensor.Float64, 1)
	if err != nil {
		t.Fatal(err)
	}
	sc := m.(models.Score)
	sigmas := sc.(interface{ Sigmas() []float64 }).Sigmas()
	const n, L = 20000, 10
	tp := ad.NewTape(cpu)
	defer tp.Reset()
	check := func(b Batch, want []int) {
		y, sg, err := noiseLevels(tp, "test", sc, b, tensor.NewRNG(3))
		if err != nil {
			t.Fatal(err)
		}
		yv, sv := y.Value().ToFloat64s(), sg.Value().ToFloat64s()
		counts := make([]int, L)
		for i := 0; i < b.X.Dim(0); i++ {
			level, ones := -1, 0
			for l := 0; l < L; l++ {
				switch yv[i*L+l] {
				case 1:
					level, ones = l, ones+1
				case 0:
				default:
					t.Fatalf("row %d: one-hot entry %v", i, yv[i*L+l])
				}
			}
			if ones != 1 {
				t.Fatalf("row %d has %d ones", i, ones)
			}
			if sv[i] != sigmas[level] {
				t.Fatalf("row %d: σ %v, level %d has %v", i, sv[i], level, sigmas[level])
			}
			if want != nil && level != want[i] {
				t.Fatalf("row %d: level %d, given %d", i, level, want[i])
			}
			counts[level]++
		}
		if want == nil {
			for l, c := range counts {
				if math.Abs(float64(c)-n/L) > 5*math.Sqrt(n*0.1*0.9) {
					t.Errorf("level %d drawn %d times of %d", l, c, n)
				}
			}
		}
	}
	check(Batch{X: cpu.Zeros(tensor.Float64, n, 1, 4, 4)}, nil)
	given := []int{3, 0, 9}
	check(Batch{X: cpu.Zeros(tensor.Float64, 3, 1, 4, 4), Levels: given}, given)
}
