package trainer

import (
	"fmt"
	"math"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// TempPhase is one phase of a Langevin temperature schedule: Steps steps
// whose temperature goes from From (first step) to To (last step), linearly
// as np.linspace(From, To, Steps), or with Geometric as np.geomspace (a
// constant ratio per step: equal time at every noise scale, as annealed
// Langevin over noise levels spends it; From and To must be positive).
type TempPhase struct {
	Steps     int     `json:"steps"`
	From      float64 `json:"from"`
	To        float64 `json:"to"`
	Geometric bool    `json:"geometric,omitempty"`
}

// ReferenceSchedule returns the deep-EBM sampling schedule of the reference
// code: 500 steps at temperature 100, then 100 -> 1 over 2000 steps, then
// 1 -> 0 over 200 steps.
func ReferenceSchedule() []TempPhase {
	return []TempPhase{{Steps: 500, From: 100, To: 100}, {Steps: 2000, From: 100, To: 1}, {Steps: 200, From: 1, To: 0}}
}

// LangevinOptions configure SampleLangevin. Zero fields take the reference
// values, except Denoise, where 0 means no denoising step; use
// DefaultLangevinOptions for the full reference protocol.
type LangevinOptions struct {
	// Step is the step size h of x <- x - ½h²∇E + √T·h·n (0: 0.02).
	Step float64
	// Schedule is the temperature schedule (nil: ReferenceSchedule()).
	Schedule []TempPhase
	// Denoise, when positive, adds a final noiseless step x - Denoise²·∇E
	// (the reference uses 0.1).
	Denoise float64
	// Init is the start: "reference" (or ""): 0.5 + N(0, 1); "uniform": U[0, 1).
	Init string
	// Clamp, when set, clamps x to [Clamp[0], Clamp[1]] after every step.
	Clamp *[2]float64
	// Progress, when set, is called after every step with (done, total).
	Progress func(step, total int)
}

// DefaultLangevinOptions returns the reference protocol: step 0.02, the
// reference schedule, a final denoising step with 0.1, start 0.5 + N(0, 1).
func DefaultLangevinOptions() LangevinOptions {
	return LangevinOptions{Step: 0.02, Schedule: ReferenceSchedule(), Denoise: 0.1, Init: "reference"}
}

func (o LangevinOptions) schedule() []TempPhase {
	if o.Schedule == nil {
		return ReferenceSchedule()
	}
	return o.Schedule
}

// Scaled returns o with every phase length multiplied by f (rounded, at
// least one step), keeping the temperatures: a shortened schedule of the
// same shape for tests and CPU runs.
func (o LangevinOptions) Scaled(f float64) LangevinOptions {
	src := o.schedule()
	out := make([]TempPhase, len(src))
	for i, p := range src {
		out[i] = TempPhase{Steps: max(1, int(math.Round(float64(p.Steps)*f))), From: p.From, To: p.To, Geometric: p.Geometric}
	}
	o.Schedule = out
	return o
}

// TotalSteps returns the number of Langevin steps of the schedule (the
// denoising step not included).
func (o LangevinOptions) TotalSteps() int {
	n := 0
	for _, p := range o.schedule() {
		n += p.Steps
	}
	return n
}

// Temperature returns the temperature of step i (0-based) of the schedule:
// within a phase it is linear from From at its first step to To at its last.
// Steps past the end get the last phase's To.
func (o LangevinOptions) Temperature(i int) float64 {
	sched := o.schedule()
	for _, p := range sched {
		if i < p.Steps {
			if p.Steps == 1 {
				return p.From
			}
			f := float64(i) / float64(p.Steps-1)
			if p.Geometric {
				return p.From * math.Pow(p.To/p.From, f)
			}
			return p.From + (p.To-p.From)*f
		}
		i -= p.Steps
	}
	if len(sched) == 0 {
		return 0
	}
	return sched[len(sched)-1].To
}

func (o LangevinOptions) validate() error {
	if o.Step < 0 || math.IsNaN(o.Step) || math.IsInf(o.Step, 0) {
		return fmt.Errorf("trainer: Langevin step %v must be positive and finite", o.Step)
	}
	if o.Denoise < 0 || math.IsNaN(o.Denoise) {
		return fmt.Errorf("trainer: Langevin denoise step %v must be >= 0", o.Denoise)
	}
	for i, p := range o.schedule() {
		if p.Steps < 0 || p.From < 0 || p.To < 0 || math.IsNaN(p.From+p.To) || math.IsInf(p.From+p.To, 0) {
			return fmt.Errorf("trainer: Langevin schedule phase %d %+v: steps and temperatures must be >= 0 and finite", i, p)
		}
		if p.Geometric && (p.From <= 0 || p.To <= 0) {
			return fmt.Errorf("trainer: Langevin schedule phase %d %+v: a geometric phase needs positive temperatures", i, p)
		}
	}
	if o.Clamp != nil && !(o.Clamp[0] <= o.Clamp[1]) {
		return fmt.Errorf("trainer: Langevin clamp [%v, %v] is empty", o.Clamp[0], o.Clamp[1])
	}
	return nil
}

// SampleLangevin draws n samples from the energy model m (E = -log p~) by
// Langevin dynamics with the temperature schedule of o:
//
//	x <- x - ½h²∇E(x) + √T_i·h·n,  n ~ N(0, I),
//
// then, if o.Denoise > 0, x <- x - Denoise²·∇E(x). ∇E is the autodiff
// gradient of sum(-LogDensity) on a tape that is reset every step, so memory
// stays flat. The result [n, InputShape...] lives on be and belongs to the
// caller.
func SampleLangevin(m models.Energy, n int, be tensor.Backend, dt tensor.DType, rng *tensor.RNG, o LangevinOptions) (*tensor.Tensor, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Step == 0 {
		o.Step = 0.02
	}
	x, err := samplerInit(m, n, be, dt, rng, o.Init)
	if err != nil {
		return nil, err
	}
	total := o.TotalSteps()
	if o.Denoise > 0 {
		total++
	}
	tp := ad.NewTape(be)
	defer tp.Reset()
	h := o.Step
	for i := range o.TotalSteps() {
		tp.Reset()
		xv := tp.Const(x)
		g := samplerEnergyGrad(m, tp, x)
		next := ad.Sub(xv, ad.Scale(g, 0.5*h*h))
		if t := o.Temperature(i); t > 0 {
			noise := tp.Random(dt, tensor.Normal(0, 1), rng, x.Shape()...)
			next = ad.Add(next, ad.Scale(noise, math.Sqrt(t)*h))
		}
		samplerStore(tp, x, next, o.Clamp)
		if o.Progress != nil {
			o.Progress(i+1, total)
		}
	}
	if o.Denoise > 0 {
		tp.Reset()
		g := samplerEnergyGrad(m, tp, x)
		samplerStore(tp, x, ad.Sub(tp.Const(x), ad.Scale(g, o.Denoise*o.Denoise)), o.Clamp)
		if o.Progress != nil {
			o.Progress(total, total)
		}
	}
	if x.HasNonFinite() {
		return x, fmt.Errorf("trainer: Langevin samples are not finite after %d steps (step %v too large for this energy?)", total, h)
	}
	return x, nil
}

// samplerInit checks the model against dt and draws the starting points.
func samplerInit(m models.Model, n int, be tensor.Backend, dt tensor.DType, rng *tensor.RNG, init string) (*tensor.Tensor, error) {
	var dist tensor.Distribution
	switch init {
	case "", "reference":
		dist = tensor.Normal(0.5, 1)
	case "uniform":
		dist = tensor.Uniform(0, 1)
	default:
		return nil, fmt.Errorf("trainer: unknown sampler init %q (valid: reference, uniform)", init)
	}
	return samplerDraw(m, n, be, dt, rng, dist)
}

// samplerDraw checks the model against n and dt and draws n points of its
// input shape from dist.
func samplerDraw(m models.Model, n int, be tensor.Backend, dt tensor.DType, rng *tensor.RNG, dist tensor.Distribution) (*tensor.Tensor, error) {
	if n <= 0 {
		return nil, fmt.Errorf("trainer: sampling needs n > 0 samples, got %d", n)
	}
	if m.DType() != dt {
		return nil, fmt.Errorf("trainer: sampling in %s from a %s model", dt, m.DType())
	}
	x := be.Empty(dt, append([]int{n}, m.InputShape()...)...)
	be.Random(x, dist, rng)
	return x, nil
}

// samplerEnergyGrad returns ∇x E = ∇x sum(-log p~(x)) as a constant on tp.
func samplerEnergyGrad(m models.Energy, tp *ad.Tape, x *tensor.Tensor) *ad.Var {
	xv := tp.Leaf(x)
	e := ad.Neg(ad.Sum(m.LogDensity(xv)))
	return ad.Grad([]*ad.Var{e}, []*ad.Var{xv}, ad.GradOptions{})[0]
}

// samplerStore copies next (optionally clamped) into x before the tape is reset.
func samplerStore(tp *ad.Tape, x *tensor.Tensor, next *ad.Var, clamp *[2]float64) {
	if clamp != nil {
		dt := x.DType()
		next = ad.Minimum(ad.Maximum(next, tp.Scalar(dt, clamp[0])), tp.Scalar(dt, clamp[1]))
	}
	tp.Backend().Copy(x, next.Value())
}

// AnnealedOptions configure SampleAnnealed. Zero fields take the NCSN
// reference values.
type AnnealedOptions struct {
	// StepsPerLevel is the number of Langevin steps per noise level (0: 100).
	StepsPerLevel int
	// Eps sets the step size α_i = Eps·(σ_i/σ_L)² (0: 2e-5).
	Eps float64
	// Denoise adds a final step x + σ_L²·s(x, L-1) (Tweedie's denoiser).
	Denoise bool
	// Progress, when set, is called after every step with (done, total).
	Progress func(step, total int)
}

// SampleAnnealed draws n samples from the noise-conditional score network m
// by annealed Langevin dynamics (Song & Ermon): start U[0, 1); for each
// level i, largest σ first, StepsPerLevel times
//
//	x <- x + (α_i/2)·s(x, i) + √α_i·z,  α_i = Eps·(σ_i/σ_L)²,  z ~ N(0, I),
//
// with σ_L the smallest level. m must also implement Sigmas() []float64 (as
// *models.NCSN does), in decreasing order. The result [n, InputShape...]
// lives on be and belongs to the caller.
func SampleAnnealed(m models.Score, n int, be tensor.Backend, dt tensor.DType, rng *tensor.RNG, o AnnealedOptions) (*tensor.Tensor, error) {
	sigmas, err := annealedSigmas(m)
	if err != nil {
		return nil, err
	}
	if o, err = o.withDefaults(); err != nil {
		return nil, err
	}
	x, err := samplerInit(m, n, be, dt, rng, "uniform")
	if err != nil {
		return nil, err
	}
	L := len(sigmas)
	sigL := sigmas[L-1]
	total := L * o.StepsPerLevel
	if o.Denoise {
		total++
	}
	onehots := levelOneHots(be, dt, n, L)
	defer func() {
		for _, t := range onehots {
			be.Release(t)
		}
	}()
	tp := ad.NewTape(be)
	defer tp.Reset()
	c := &annealedChain{m: m, x: x, onehots: onehots, tp: tp, dt: dt, rng: rng, o: o, total: total}
	for i, sig := range sigmas {
		c.runLevel(i, o.Eps*(sig/sigL)*(sig/sigL))
	}
	if o.Denoise {
		c.denoise(L-1, sigL)
	}
	if x.HasNonFinite() {
		return x, fmt.Errorf("trainer: annealed Langevin samples are not finite after %d steps (eps %v too large?)", total, o.Eps)
	}
	return x, nil
}

// annealedSigmas returns the noise levels of m, checked: one per level,
// positive, finite and decreasing.
func annealedSigmas(m models.Score) ([]float64, error) {
	sm, ok := m.(interface{ Sigmas() []float64 })
	if !ok {
		return nil, fmt.Errorf("trainer: annealed Langevin needs the noise levels: %T has no Sigmas() []float64 method", m)
	}
	sigmas := sm.Sigmas()
	if len(sigmas) == 0 || len(sigmas) != m.Levels() {
		return nil, fmt.Errorf("trainer: model has %d levels but %d sigmas", m.Levels(), len(sigmas))
	}
	for i, s := range sigmas {
		if !(s > 0) || math.IsInf(s, 0) || (i > 0 && s > sigmas[i-1]) {
			return nil, fmt.Errorf("trainer: sigmas %v must be positive, finite and decreasing", sigmas)
		}
	}
	return sigmas, nil
}

// withDefaults checks o and fills its zero fields with the NCSN values.
func (o AnnealedOptions) withDefaults() (AnnealedOptions, error) {
	if o.StepsPerLevel < 0 || o.Eps < 0 || math.IsNaN(o.Eps) {
		return o, fmt.Errorf("trainer: annealed Langevin steps per level %d and eps %v must be >= 0", o.StepsPerLevel, o.Eps)
	}
	if o.StepsPerLevel == 0 {
		o.StepsPerLevel = 100
	}
	if o.Eps == 0 {
		o.Eps = 2e-5
	}
	return o, nil
}

// levelOneHots returns, for each of L levels, that level one-hot for all n
// samples: copied to the device once rather than at every step.
func levelOneHots(be tensor.Backend, dt tensor.DType, n, L int) []*tensor.Tensor {
	onehots := make([]*tensor.Tensor, L)
	for l := range onehots {
		oh := make([]float64, n*L)
		for k := 0; k < n; k++ {
			oh[k*L+l] = 1
		}
		onehots[l] = tensor.FromFloat64s(be, dt, tensor.Shape{n, L}, oh)
	}
	return onehots
}

// annealedChain is the state of one SampleAnnealed run: x moves in place.
type annealedChain struct {
	m       models.Score
	x       *tensor.Tensor
	onehots []*tensor.Tensor // by level, from levelOneHots
	tp      *ad.Tape         // reset before every step
	dt      tensor.DType
	rng     *tensor.RNG
	o       AnnealedOptions
	total   int // steps, the denoising one included
	done    int
}

// score evaluates s(x, level) without recording: no derivatives needed.
func (c *annealedChain) score(level int) (s *ad.Var) {
	c.tp.NoGrad(func() { s = c.m.Score(c.tp.Const(c.x), c.tp.Const(c.onehots[level])) })
	return s
}

// runLevel takes StepsPerLevel steps x + (alpha/2)·s(x, level) + √alpha·z.
func (c *annealedChain) runLevel(level int, alpha float64) {
	for range c.o.StepsPerLevel {
		c.tp.Reset()
		s := c.score(level)
		z := c.tp.Random(c.dt, tensor.Normal(0, 1), c.rng, c.x.Shape()...)
		next := ad.Add(ad.Add(c.tp.Const(c.x), ad.Scale(s, alpha/2)), ad.Scale(z, math.Sqrt(alpha)))
		samplerStore(c.tp, c.x, next, nil)
		c.done++
		if c.o.Progress != nil {
			c.o.Progress(c.done, c.total)
		}
	}
}

// denoise takes Tweedie's step x + sigma²·s(x, level).
func (c *annealedChain) denoise(level int, sigma float64) {
	c.tp.Reset()
	s := c.score(level)
	samplerStore(c.tp, c.x, ad.Add(c.tp.Const(c.x), ad.Scale(s, sigma*sigma)), nil)
	if c.o.Progress != nil {
		c.o.Progress(c.total, c.total)
	}
}
