package models

import (
	"math"
	"strings"
	"testing"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

func smallDAE(t *testing.T, output string) *DAE {
	t.Helper()
	m, err := Build(Spec{Kind: "dae", Options: map[string]any{"input_dim": 4, "hidden": []int{5, 3}, "output": output, "scale": 7}},
		tensor.DefaultCPU(), tensor.Float64, 2)
	if err != nil {
		t.Fatal(err)
	}
	return m.(*DAE)
}

// TestDAEMatchesDirectComputation: E(x) = ½·c·‖x - r(x)‖² against a plain
// float64 loop over the same weights, for both output activations.
func TestDAEMatchesDirectComputation(t *testing.T) {
	for _, output := range []string{"sigmoid", "linear"} {
		m := smallDAE(t, output)
		names := []string{"layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias", "layers.2.weight", "layers.2.bias", "log_scale"}
		for i, p := range m.Params() {
			if p.Name != names[i] {
				t.Fatalf("param %d named %s, want %s", i, p.Name, names[i])
			}
		}
		x := mlpBatch(1)
		got := m.Energy(ad.NewTape(tensor.DefaultCPU()).Const(x)).Value().ToFloat64s()
		for n := 0; n < 3; n++ {
			in := []float64{x.At(n, 0), x.At(n, 1), x.At(n, 2), x.At(n, 3)}
			h := in
			for l := 0; l < 3; l++ {
				h = affine(m.Params()[2*l].Value, m.Params()[2*l+1].Value, h)
				for o := range h {
					switch {
					case l < 2:
						h[o] = math.Log1p(math.Exp(h[o]))
					case output == "sigmoid":
						h[o] = 1 / (1 + math.Exp(-h[o]))
					}
				}
			}
			want := 0.0
			for i := range in {
				want += (in[i] - h[i]) * (in[i] - h[i])
			}
			want *= 0.5 * 7
			if math.Abs(got[n]-want) > 1e-12*math.Max(1, want) {
				t.Errorf("%s sample %d: E %v, want %v", output, n, got[n], want)
			}
		}
	}
}

// TestDAEGradients: first and second derivatives (the score and the
// score's parameter gradient that exact multiscale DSM takes) against
// central differences.
func TestDAEGradients(t *testing.T) {
	checkScoreGrads(t, smallDAE(t, "sigmoid"), mlpBatch(6))
}

func TestDAEBadOptions(t *testing.T) {
	for _, c := range []struct {
		opts map[string]any
		want string
	}{
		{map[string]any{"hidden": []int{}}, "at least one"},
		{map[string]any{"hidden": []int{4, 0}}, "positive"},
		{map[string]any{"output": "relu"}, "unknown output"},
		{map[string]any{"scale": 0}, "scale"},
		{map[string]any{"scale": -1}, "scale"},
		{map[string]any{"input_dim": 0}, "input_dim"},
	} {
		_, err := Build(Spec{Kind: "dae", Options: c.opts}, tensor.DefaultCPU(), tensor.Float32, 1)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one naming %q", c.opts, err, c.want)
		}
	}
}
