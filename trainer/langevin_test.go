package trainer

import (
	"math"
	"strings"
	"testing"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// gaussModel is an isotropic Gaussian N(μ, s²I) in d dimensions: as an
// Energy, log p~(x) = -½‖x-μ‖²/s²; as a Score (with sigmas), the exact
// score of the σ-perturbed density N(μ, (s²+σ²)I), -(x-μ)/(s²+σ²).
type gaussModel struct {
	mu     []float64
	s      float64
	sigmas []float64
	dt     tensor.DType
}

func (g *gaussModel) Spec() models.Spec   { return models.Spec{Kind: "test_gauss"} }
func (g *gaussModel) Params() []*ad.Param { return nil }
func (g *gaussModel) InputShape() []int   { return []int{len(g.mu)} }
func (g *gaussModel) DType() tensor.DType { return g.dt }
func (g *gaussModel) Levels() int         { return len(g.sigmas) }
func (g *gaussModel) Sigmas() []float64   { return g.sigmas }
func (g *gaussModel) muVar(tp *ad.Tape) *ad.Var {
	return tp.Owned(upload(tp.Backend(), g.dt, g.mu, len(g.mu)))
}

func (g *gaussModel) LogDensity(x *ad.Var) *ad.Var {
	tp := x.Tape()
	return ad.Scale(ad.Sum(ad.Square(ad.Sub(x, g.muVar(tp))), 1), -0.5/(g.s*g.s))
}

func (g *gaussModel) Score(x, y *ad.Var) *ad.Var {
	tp := x.Tape()
	// coef = y · (-1/(s² + σ_l²)) per sample
	per := make([]float64, len(g.sigmas))
	for l, sg := range g.sigmas {
		per[l] = -1 / (g.s*g.s + sg*sg)
	}
	coef := ad.MatMul(y, tp.Owned(upload(tp.Backend(), g.dt, per, len(per), 1)), false, false)
	return ad.Mul(ad.Sub(x, g.muVar(tp)), coef)
}

// scoreOnly hides Sigmas, to test the error for score models without it.
type scoreOnly struct{ *gaussModel }

func (scoreOnly) Sigmas() {}

func upload(be tensor.Backend, dt tensor.DType, v []float64, shape ...int) *tensor.Tensor {
	t := be.Empty(dt, shape...)
	tensor.WriteAs(t, v)
	return t
}

// deviations returns x - μ per row, pooled over rows and dimensions, with
// μ given per dimension.
func deviations(x *tensor.Tensor, mu []float64) []float64 {
	v := x.ToFloat64s()
	for i := range v {
		v[i] -= mu[i%len(mu)]
	}
	return v
}

func meanSq(v []float64) (mean, sq float64) {
	for _, e := range v {
		mean += e
		sq += e * e
	}
	return mean / float64(len(v)), sq / float64(len(v))
}

// TestLangevinGaussianStationary runs unadjusted Langevin at temperature 1 on
// N(μ, s²I). For E = ½(x-μ)²/s² one step is y' = a·y + h·n with
// y = x-μ, a = 1 - h²/(2s²), so the stationary law is N(μ, v) with
// v = h²/(1-a²) = s²/(1 - h²/(4s²)): the mean is exact and the variance is
// inflated by the discretisation. After K steps the start is forgotten up to
// a^K (checked below to be negligible). With N = n·d independent
// coordinates the standard errors are √(v/N) for the mean and ≈ v√(2/N) for
// the variance (Gaussian); we allow 5 of them.
func TestLangevinGaussianStationary(t *testing.T) {
	be := tensor.DefaultCPU()
	g := &gaussModel{mu: []float64{-1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5}, s: 0.5, dt: tensor.Float64}
	const n = 2000
	N := float64(n * len(g.mu))
	for _, tc := range []struct {
		h     float64
		steps int
	}{{0.4, 150}, {0.1, 1200}} { // big step: visible bias (19%); small step: ≈ s²
		s2 := g.s * g.s
		a := 1 - tc.h*tc.h/(2*s2)
		if r := math.Pow(a, float64(tc.steps)); r > 1e-4 {
			t.Fatalf("h=%v: %d steps leave a^K = %g of the start", tc.h, tc.steps, r)
		}
		v := s2 / (1 - tc.h*tc.h/(4*s2))
		o := LangevinOptions{Step: tc.h, Schedule: []TempPhase{{Steps: tc.steps, From: 1, To: 1}}}
		x, err := SampleLangevin(g, n, be, tensor.Float64, tensor.NewRNG(7), o)
		if err != nil {
			t.Fatal(err)
		}
		if got := x.Shape(); !got.Equal(tensor.Shape{n, len(g.mu)}) {
			t.Fatalf("shape %v", got)
		}
		mean, vHat := meanSq(deviations(x, g.mu))
		if tol := 5 * math.Sqrt(v/N); math.Abs(mean) > tol {
			t.Errorf("h=%v: mean deviation %.4f, want 0 ± %.4f", tc.h, mean, tol)
		}
		tol := 5 * v * math.Sqrt(2/N)
		if math.Abs(vHat-v) > tol {
			t.Errorf("h=%v: variance %.4f, want ULA's %.4f ± %.4f (s² = %.4f)", tc.h, vHat, v, tol, s2)
		}
		// s² itself is within the Monte-Carlo tolerance plus the known bias.
		if math.Abs(vHat-s2) > tol+(v-s2) {
			t.Errorf("h=%v: variance %.4f, want s² = %.4f ± %.4f", tc.h, vHat, s2, tol+(v-s2))
		}
		be.Release(x)
	}
}

// TestLangevinDeterministicSteps checks the update formula exactly: with
// temperature 0 one step is x - ½h²(x-μ)/s², and the denoising step is
// x - D²(x-μ)/s², from the start 0.5 + N(0, 1) drawn with the same seed.
func TestLangevinDeterministicSteps(t *testing.T) {
	be := tensor.DefaultCPU()
	g := &gaussModel{mu: []float64{0.3, -0.2, 1}, s: 0.7, dt: tensor.Float64}
	const n, h, D = 5, 0.2, 0.1
	start := be.Empty(tensor.Float64, n, 3)
	be.Random(start, tensor.Normal(0.5, 1), tensor.NewRNG(11))
	want := start.ToFloat64s()
	for i := range want {
		mu := g.mu[i%3]
		want[i] -= 0.5 * h * h * (want[i] - mu) / (g.s * g.s)
		want[i] -= D * D * (want[i] - mu) / (g.s * g.s)
	}
	var calls []int
	o := LangevinOptions{Step: h, Schedule: []TempPhase{{Steps: 1}}, Denoise: D,
		Progress: func(step, total int) { calls = append(calls, step, total) }}
	x, err := SampleLangevin(g, n, be, tensor.Float64, tensor.NewRNG(11), o)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range x.ToFloat64s() {
		if math.Abs(v-want[i]) > 1e-14 {
			t.Fatalf("x[%d] = %v, want %v", i, v, want[i])
		}
	}
	if len(calls) != 4 || calls[0] != 1 || calls[1] != 2 || calls[2] != 2 || calls[3] != 2 {
		t.Errorf("progress calls %v, want (1,2) (2,2)", calls)
	}
}

func TestLangevinReferenceSchedule(t *testing.T) {
	o := DefaultLangevinOptions()
	if o.TotalSteps() != 2700 || o.Step != 0.02 || o.Denoise != 0.1 {
		t.Fatalf("reference: %d steps, step %v, denoise %v", o.TotalSteps(), o.Step, o.Denoise)
	}
	for _, c := range []struct {
		i int
		T float64
	}{
		{0, 100}, {499, 100}, {500, 100}, {500 + 1999, 1}, {500 + 1000, 100 - 99*1000.0/1999},
		{2500, 1}, {2699, 0}, {2599, 1 - 99.0/199}, {5000, 0},
	} {
		if got := o.Temperature(c.i); math.Abs(got-c.T) > 1e-12 {
			t.Errorf("Temperature(%d) = %v, want %v", c.i, got, c.T)
		}
	}
	if (LangevinOptions{}).TotalSteps() != 2700 {
		t.Error("nil schedule is not the reference")
	}
	s := o.Scaled(0.1)
	if s.TotalSteps() != 270 || o.TotalSteps() != 2700 {
		t.Fatalf("Scaled(0.1): %d steps (original now %d)", s.TotalSteps(), o.TotalSteps())
	}
	for _, c := range []struct {
		i int
		T float64
	}{{0, 100}, {49, 100}, {50, 100}, {249, 1}, {250, 1}, {269, 0}} {
		if got := s.Temperature(c.i); math.Abs(got-c.T) > 1e-12 {
			t.Errorf("scaled Temperature(%d) = %v, want %v", c.i, got, c.T)
		}
	}
	if tiny := o.Scaled(1e-6); tiny.TotalSteps() != 3 || tiny.Temperature(2) != 1 {
		t.Errorf("Scaled(1e-6): %d steps, last T %v; want 3 single-step phases", tiny.TotalSteps(), tiny.Temperature(2))
	}
}

// TestLangevinGeometricSchedule: a geometric phase has a constant ratio
// between steps (np.geomspace), keeps it when scaled, and rejects a zero
// temperature.
func TestLangevinGeometricSchedule(t *testing.T) {
	o := LangevinOptions{Schedule: []TempPhase{{Steps: 5, From: 100, To: 0.01, Geometric: true}, {Steps: 2, From: 1, To: 0}}}
	for i, want := range []float64{100, 10, 1, 0.1, 0.01, 1, 0} {
		if got := o.Temperature(i); math.Abs(got-want) > 1e-12*want {
			t.Errorf("Temperature(%d) = %v, want %v", i, got, want)
		}
	}
	if s := o.Scaled(2); s.TotalSteps() != 14 || math.Abs(s.Temperature(9)-0.01) > 1e-15 || !s.Schedule[0].Geometric {
		t.Errorf("Scaled(2): %d steps, T(9) = %v", s.TotalSteps(), s.Temperature(9))
	}
	bad := LangevinOptions{Schedule: []TempPhase{{Steps: 3, From: 1, To: 0, Geometric: true}}}
	if err := bad.validate(); err == nil || !strings.Contains(err.Error(), "positive") {
		t.Errorf("geometric phase to 0: err %v", err)
	}
}

// TestLangevinShortReference runs the reference protocol on a shortened
// schedule in float32 with a clamp: the samples stay in the clamp range and
// every step reports progress. A fresh backend shows that the per-step
// tapes give all their memory back: only the samples stay in use.
func TestLangevinShortReference(t *testing.T) {
	be := tensor.NewCPU()
	g := &gaussModel{mu: []float64{0.2, 0.8}, s: 0.1, dt: tensor.Float32}
	o := DefaultLangevinOptions().Scaled(0.02)
	o.Clamp = &[2]float64{0, 1}
	last := 0
	o.Progress = func(step, total int) { last = step }
	x, err := SampleLangevin(g, 64, be, tensor.Float32, tensor.NewRNG(3), o)
	if err != nil {
		t.Fatal(err)
	}
	if used := be.MemStats().InUseBytes; used != int64(x.Bytes()) {
		t.Errorf("%d bytes in use after sampling, want only the %d of the samples", used, x.Bytes())
	}
	if last != o.TotalSteps()+1 {
		t.Errorf("last progress %d, want %d", last, o.TotalSteps()+1)
	}
	for _, v := range x.ToFloat64s() {
		if v < 0 || v > 1 {
			t.Fatalf("sample %v outside the clamp [0, 1]", v)
		}
	}
	// Cooling to T = 0 ends near the mode: within a few s of μ.
	mean, _ := meanSq(deviations(x, g.mu))
	if math.Abs(mean) > 0.05 {
		t.Errorf("mean deviation from μ %v after cooling", mean)
	}
}

func TestSamplerErrors(t *testing.T) {
	be := tensor.DefaultCPU()
	g := &gaussModel{mu: []float64{0}, s: 1, sigmas: []float64{1, 0.1}, dt: tensor.Float64}
	rng := tensor.NewRNG(1)
	for name, c := range map[string]struct {
		err  error
		want string
	}{
		"init":   {err2(SampleLangevin(g, 2, be, tensor.Float64, rng, LangevinOptions{Init: "zeros"})), "unknown sampler init"},
		"dtype":  {err2(SampleLangevin(g, 2, be, tensor.Float32, rng, LangevinOptions{})), "float64 model"},
		"n":      {err2(SampleLangevin(g, 0, be, tensor.Float64, rng, LangevinOptions{})), "n > 0"},
		"clamp":  {err2(SampleLangevin(g, 2, be, tensor.Float64, rng, LangevinOptions{Clamp: &[2]float64{1, 0}})), "clamp"},
		"step":   {err2(SampleLangevin(g, 2, be, tensor.Float64, rng, LangevinOptions{Step: -1})), "step"},
		"sigmas": {err2(SampleAnnealed(scoreOnly{g}, 2, be, tensor.Float64, rng, AnnealedOptions{})), "Sigmas() []float64"},
		"levels": {err2(SampleAnnealed(&gaussModel{mu: []float64{0}, s: 1, sigmas: []float64{0.1, 1}, dt: tensor.Float64},
			2, be, tensor.Float64, rng, AnnealedOptions{})), "decreasing"},
		"diverge": {err2(SampleLangevin(g, 2, be, tensor.Float64, rng,
			LangevinOptions{Step: 3, Schedule: []TempPhase{{Steps: 2000}}})), "not finite"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", name, c.err, c.want)
		}
	}
}

func err2(_ *tensor.Tensor, err error) error { return err }

// TestAnnealedGaussian runs annealed Langevin with the exact scores of data
// N(μ, s²I) perturbed by each σ. Every update is linear: with y = x-μ and
// v_i = s²+σ_i², y' = (1 - α_i/(2v_i))·y + √α_i·z, and the optional
// denoising step multiplies y by s²/(s²+σ_L²). So the mean and variance of
// the final samples follow exactly from the start U[0,1) (mean ½, variance
// 1/12) by a scalar recursion; the Monte-Carlo tolerance is 5 standard
// errors. The final law is also near N(μ, s²): the exact variance is within
// 10% of s² (the σ_L² = 0.0025 of the last level, the lag of its slow
// mixing, and ULA's α/(4v) bias), which we check too.
func TestAnnealedGaussian(t *testing.T) {
	be := tensor.DefaultCPU()
	sig := models.GeometricSigmas(0.5, 0.05, 5)
	g := &gaussModel{mu: []float64{-1, 0.2, 1.5, 0.7}, s: 0.3, sigmas: sig, dt: tensor.Float64}
	const n, steps, eps = 4000, 100, 1e-3
	N := float64(n * len(g.mu))
	s2 := g.s * g.s
	for _, denoise := range []bool{false, true} {
		done := 0
		o := AnnealedOptions{StepsPerLevel: steps, Eps: eps, Denoise: denoise, Progress: func(s, _ int) { done = s }}
		x, err := SampleAnnealed(g, n, be, tensor.Float64, tensor.NewRNG(5), o)
		if err != nil {
			t.Fatal(err)
		}
		wantSteps := len(sig) * steps
		if denoise {
			wantSteps++
		}
		if done != wantSteps {
			t.Errorf("progress ended at %d, want %d", done, wantSteps)
		}
		// Exact moments of y = x - μ per dimension; the variance is the same for all.
		m := make([]float64, len(g.mu))
		for j := range m {
			m[j] = 0.5 - g.mu[j]
		}
		V := 1.0 / 12
		sigL := sig[len(sig)-1]
		for _, s := range sig {
			alpha := eps * (s / sigL) * (s / sigL)
			a := 1 - alpha/(2*(s2+s*s))
			for range steps {
				for j := range m {
					m[j] *= a
				}
				V = a*a*V + alpha
			}
		}
		if denoise {
			b := s2 / (s2 + sigL*sigL)
			for j := range m {
				m[j] *= b
			}
			V *= b * b
		}
		exact := make([]float64, len(g.mu)) // exact mean of x
		for j := range exact {
			exact[j] = g.mu[j] + m[j]
		}
		mean, vHat := meanSq(deviations(x, exact))
		if tol := 5 * math.Sqrt(V/N); math.Abs(mean) > tol {
			t.Errorf("denoise=%v: mean deviation %.5f, want 0 ± %.5f", denoise, mean, tol)
		}
		if tol := 5 * V * math.Sqrt(2/N); math.Abs(vHat-V) > tol {
			t.Errorf("denoise=%v: variance %.5f, want %.5f ± %.5f", denoise, vHat, V, tol)
		}
		for j, mj := range m {
			if math.Abs(mj) > 1e-6 {
				t.Errorf("denoise=%v: exact mean of dim %d is %v off μ: start not forgotten", denoise, j, mj)
			}
		}
		if math.Abs(V-s2) > 0.1*s2 {
			t.Errorf("denoise=%v: exact final variance %.5f not within 10%% of s² = %.5f", denoise, V, s2)
		}
		t.Logf("denoise=%v: variance %.5f (exact %.5f, s² %.5f)", denoise, vHat, V, s2)
		be.Release(x)
	}
}
