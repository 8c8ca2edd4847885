package data

import (
	"math"
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
)

// TestToPixelsInvertsTransforms: pixels through logit, centre (per channel)
// or logit with alpha, and back, come out as they went in (float32
// rounding: 1e-5), and values beyond [0, 1] are clamped.
func TestToPixelsInvertsTransforms(t *testing.T) {
	shape := []int{2, 2, 2}
	px := []float32{0.1, 0.5, 0.9, 0.3, 0.01, 0.99, 0.6, 0.4}
	for _, spec := range [][]string{{"logit"}, {"logit:0.05"}, {"centre:0.2,0.7"}, {"centre"}, {"pad:2", "logit:0.01", "centre:0.1"}} {
		ts, err := ParseTransforms(spec)
		if err != nil {
			t.Fatal(err)
		}
		vals := append([]float32(nil), px...)
		for _, tr := range ts {
			tr.Apply(vals, vals, shape, tensor.NewRNG(1))
		}
		ToPixels(ts, vals, shape)
		for i := range px {
			if math.Abs(float64(vals[i]-px[i])) > 1e-5 {
				t.Errorf("%v: pixel %d went %v -> %v", spec, i, px[i], vals[i])
			}
		}
	}
	vals := []float32{-0.5, 0.5, 1.7}
	ToPixels(nil, vals, []int{3})
	if vals[0] != 0 || vals[1] != 0.5 || vals[2] != 1 {
		t.Errorf("clamp gave %v", vals)
	}
}
