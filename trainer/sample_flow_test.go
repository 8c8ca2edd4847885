package trainer

import (
	"math"
	"strings"
	"testing"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// affineFlow is x = μ + s·z with z ~ N(0, I): as a Flow its samples at
// temperature T are N(μ, (T·s)²I) exactly.
type affineFlow struct{ gaussModel }

func (f *affineFlow) Forward(x *ad.Var) *ad.Var {
	return ad.Scale(ad.Sub(x, f.muVar(x.Tape())), 1/f.s)
}

func (f *affineFlow) Inverse(z *ad.Var) *ad.Var {
	return ad.Add(ad.Scale(z, f.s), f.muVar(z.Tape()))
}

// TestSampleFlowMoments: a flow's samples at temperature T have the closed
// form's mean μ and variance (T·s)². With N = n·d independent coordinates
// the standard errors are T·s/√N for the mean and about (T·s)²·√(2/N) for
// the variance; we allow 5 of them.
func TestSampleFlowMoments(t *testing.T) {
	be := tensor.DefaultCPU()
	f := &affineFlow{gaussModel{mu: []float64{-1, 0.2, 1.5, 0.7}, s: 0.3, dt: tensor.Float64}}
	const n = 4000
	N := float64(n * len(f.mu))
	for _, temp := range []float64{1, 0.6} {
		x, err := SampleFlow(f, n, be, tensor.Float64, tensor.NewRNG(3), temp)
		if err != nil {
			t.Fatal(err)
		}
		mean, sq := meanSq(deviations(x, f.mu))
		v := temp * temp * f.s * f.s
		if se := math.Sqrt(v / N); math.Abs(mean) > 5*se {
			t.Errorf("T %v: mean deviation %.5f, want |.| <= %.5f", temp, mean, 5*se)
		}
		if se := v * math.Sqrt(2/N); math.Abs(sq-mean*mean-v) > 5*se {
			t.Errorf("T %v: variance %.5f, want %.5f ± %.5f", temp, sq-mean*mean, v, 5*se)
		}
	}
}

// TestDrawSamplesFlowIsExact: DrawSamples samples a NICE flow through its
// inverse (one evaluation, progress 1 of 1) at the config's temperature:
// mapping the samples forward gives back the latent draw, whose coordinates
// have mean 0 and variance T² (standard errors as above, 5 allowed).
func TestDrawSamplesFlowIsExact(t *testing.T) {
	b := models.NewBuilder(tensor.DefaultCPU(), tensor.Float64, 7)
	m, err := models.NewNICE(b, models.NICEOptions{InputDim: 16, Hidden: 32, CouplingLayers: 4, HiddenLayers: 2, Activation: models.ActSoftplus})
	if err != nil {
		t.Fatal(err)
	}
	const n, temp = 1000, 0.5
	c := SamplesConfig{N: n, Temperature: temp}
	if got := c.SampleSteps(m); got != 1 {
		t.Errorf("SampleSteps = %d, want 1", got)
	}
	done, total := 0, 0
	x, err := DrawSamples(m, c, n, 11, func(d, tot int) { done, total = d, tot })
	if err != nil {
		t.Fatal(err)
	}
	if done != 1 || total != 1 {
		t.Errorf("progress %d of %d, want 1 of 1", done, total)
	}
	tp := ad.NewTape(tensor.DefaultCPU())
	z := m.Forward(tp.Const(x)).Value()
	mean, sq := meanSq(z.ToFloat64s())
	N := float64(z.Numel())
	if se := temp / math.Sqrt(N); math.Abs(mean) > 5*se {
		t.Errorf("latent mean %.5f, want |.| <= %.5f", mean, 5*se)
	}
	if v, se := temp*temp, temp*temp*math.Sqrt(2/N); math.Abs(sq-mean*mean-v) > 5*se {
		t.Errorf("latent variance %.5f, want %.5f ± %.5f", sq-mean*mean, v, 5*se)
	}
	if _, err := DrawSamples(m, SamplesConfig{Temperature: -1}, 4, 1, nil); err == nil || !strings.Contains(err.Error(), "temperature") {
		t.Errorf("negative temperature: got %v, want an error naming it", err)
	}
}
