package trainer

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// optParams returns parameters w [3,4] and b [5] with N(0,1) values in dtype dt.
func optParams(t *testing.T, dt tensor.DType, seed uint64) []*autodiff.Param {
	t.Helper()
	be := tensor.DefaultCPU()
	rng := tensor.NewRNG(seed)
	var ps []*autodiff.Param
	for _, s := range []struct {
		name  string
		shape []int
	}{{"w", []int{3, 4}}, {"b", []int{5}}} {
		v := be.Empty(dt, s.shape...)
		be.Random(v, tensor.Normal(0, 1), rng)
		ps = append(ps, autodiff.NewParam(s.name, v))
	}
	return ps
}

// setGrads fills every gradient with N(0, 1) draws (step-dependent through rng).
func setGrads(ps []*autodiff.Param, rng *tensor.RNG) {
	for _, p := range ps {
		be := p.Value.Backend()
		if p.Grad == nil {
			p.Grad = be.Empty(p.Value.DType(), p.Value.Shape()...)
		}
		be.Random(p.Grad, tensor.Normal(0, 1), rng)
	}
}

// refAdam is PyTorch's documented Adam algorithm on float64 slices.
type refAdam struct {
	b1, b2, eps, wd float64
	decoupled       bool // AdamW
	m, v            map[string][]float64
	t               map[string]int
}

func (r *refAdam) step(name string, th, g []float64, lr float64) {
	if r.m == nil {
		r.m, r.v, r.t = map[string][]float64{}, map[string][]float64{}, map[string]int{}
	}
	if r.m[name] == nil {
		r.m[name], r.v[name] = make([]float64, len(th)), make([]float64, len(th))
	}
	r.t[name]++
	m, v, t := r.m[name], r.v[name], float64(r.t[name])
	for i := range th {
		gi := g[i] + r.wd*th[i]
		if r.decoupled { // torch.optim.AdamW: param.mul_(1 - lr·wd), then Adam on the gradient
			th[i] *= 1 - lr*r.wd
			gi = g[i]
		}
		m[i] = r.b1*m[i] + (1-r.b1)*gi
		v[i] = r.b2*v[i] + (1-r.b2)*gi*gi
		mh := m[i] / (1 - math.Pow(r.b1, t))
		vh := v[i] / (1 - math.Pow(r.b2, t))
		th[i] -= lr * mh / (math.Sqrt(vh) + r.eps)
	}
}

// refSGD is PyTorch's documented SGD (dampening 0, no Nesterov) on slices.
type refSGD struct {
	mu, wd float64
	buf    map[string][]float64
}

func (r *refSGD) step(name string, th, g []float64, lr float64) {
	if r.buf == nil {
		r.buf = map[string][]float64{}
	}
	d := make([]float64, len(th))
	for i := range th {
		d[i] = g[i] + r.wd*th[i]
	}
	if r.mu != 0 {
		if b := r.buf[name]; b == nil {
			r.buf[name] = d
		} else {
			for i := range b {
				b[i] = r.mu*b[i] + d[i]
			}
			d = b
		}
	}
	for i := range th {
		th[i] -= lr * d[i]
	}
}

// compareToReference runs opt and the reference side by side for 6 steps with
// varying learning rates and checks every parameter to tol (absolute, for
// parameters of order 1).
func compareToReference(t *testing.T, dt tensor.DType, opt Optimizer, ref func(name string, th, g []float64, lr float64), tol float64) {
	ps := optParams(t, dt, 1)
	want := map[string][]float64{}
	for _, p := range ps {
		want[p.Name] = p.Value.ToFloat64s()
	}
	rng := tensor.NewRNG(2)
	for k := 0; k < 6; k++ {
		lr := 0.01 * float64(k+1)
		setGrads(ps, rng)
		for _, p := range ps {
			ref(p.Name, want[p.Name], p.Grad.ToFloat64s(), lr)
		}
		opt.Step(ps, lr, nil)
		for _, p := range ps {
			for i, got := range p.Value.ToFloat64s() {
				if d := math.Abs(got - want[p.Name][i]); !(d <= tol) {
					t.Fatalf("step %d %s[%d]: got %.17g, reference %.17g (|diff| %g > %g)", k+1, p.Name, i, got, want[p.Name][i], d, tol)
				}
			}
		}
	}
	if opt.Steps() != 6 {
		t.Errorf("Steps() = %d, want 6", opt.Steps())
	}
}

// float64 runs the same arithmetic as the reference up to operation order
// (√v/√bc2 vs √(v/bc2)): a few ulp per step on |θ| < 4 (observed 2e-16),
// so 1e-12. float32 keeps θ and the moments in float32: θ's rounding alone is
// half an ulp (1.2e-7 at |θ| < 4) per step, observed 3e-7 after 6 steps, so
// 2e-6.
func TestAdamMatchesReference(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Float64, tensor.Float32} {
		tol := map[tensor.DType]float64{tensor.Float64: 1e-12, tensor.Float32: 2e-6}[dt]
		for _, wd := range []float64{0, 0.05} {
			for _, decoupled := range []bool{false, true} {
				ref := &refAdam{b1: 0.9, b2: 0.95, eps: 1e-8, wd: wd, decoupled: decoupled}
				opt := &Adam{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: wd, Decoupled: decoupled}
				name := dt.String() + map[bool]string{false: "", true: "/wd"}[wd != 0] + map[bool]string{false: "", true: "/adamw"}[decoupled]
				t.Run(name, func(t *testing.T) { compareToReference(t, dt, opt, ref.step, tol) })
			}
		}
	}
}

func TestSGDMatchesReference(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Float64, tensor.Float32} {
		tol := map[tensor.DType]float64{tensor.Float64: 1e-12, tensor.Float32: 2e-6}[dt]
		for _, c := range []struct{ mu, wd float64 }{{0.9, 0}, {0.9, 0.05}, {0, 0.05}} {
			ref := &refSGD{mu: c.mu, wd: c.wd}
			opt := &SGD{Momentum: c.mu, WeightDecay: c.wd}
			name := fmt.Sprintf("%s/momentum=%g/wd=%g", dt, c.mu, c.wd)
			t.Run(name, func(t *testing.T) { compareToReference(t, dt, opt, ref.step, tol) })
		}
	}
}

// The first Adam step has m̂ = g and v̂ = g², so θ moves by exactly
// -lr·g/(|g|+ε): ±lr for large |g|, lr/11 for |g| = ε/10. A parameter whose
// gradient first appears at a later step gets its own step-1 correction.
func TestAdamFirstStepClosedForm(t *testing.T) {
	be := tensor.DefaultCPU()
	g := []float64{3, -0.5, 1e-9, -1e-9, 0}
	mk := func(name string) *autodiff.Param {
		return autodiff.NewParam(name, tensor.FromFloat64s(be, tensor.Float64, tensor.Shape{5}, []float64{1, 2, 3, 4, 5}))
	}
	a, late := mk("a"), mk("late")
	opt, err := NewOptimizer("adam", OptimizerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.Grad = tensor.FromFloat64s(be, tensor.Float64, tensor.Shape{5}, []float64{1, 1, 1, 1, 1})
	const lr = 0.1
	opt.Step([]*autodiff.Param{a, late}, lr, nil) // late has no gradient: skipped
	opt.Step([]*autodiff.Param{a, late}, lr, nil)
	if late.Value.At(0) != 1 {
		t.Fatalf("a parameter with a nil gradient moved")
	}
	late.Grad = tensor.FromFloat64s(be, tensor.Float64, tensor.Shape{5}, g)
	opt.Step([]*autodiff.Param{a, late}, lr, nil)
	// 1e-15: θ ≤ 5 rounds to half an ulp (4.4e-16); the ~0.1 update is off by
	// a few ulp of itself (~1e-17).
	for i, gi := range g {
		want := float64(i+1) - lr*gi/(math.Abs(gi)+1e-8)
		if got := late.Value.At(i); math.Abs(got-want) > 1e-15 {
			t.Errorf("θ[%d] after first step with g=%g: %.17g, want %.17g", i, gi, got, want)
		}
	}
	if n := opt.State()["adam.step.late"].Item(); n != 1 {
		t.Errorf("adam.step.late = %g, want 1", n)
	}
}

// cloneState copies st the way a checkpoint does (through float64 host
// slices into fresh tensors of the parameters' dtype), so nothing is shared.
func cloneState(st map[string]*tensor.Tensor, dt tensor.DType) map[string]*tensor.Tensor {
	be := tensor.NewCPU()
	out := map[string]*tensor.Tensor{}
	for k, v := range st {
		out[k] = tensor.FromFloat64s(be, dt, v.Shape(), v.ToFloat64s())
	}
	return out
}

func TestOptimizerStateResumesBitwise(t *testing.T) {
	for _, kind := range []string{"adam", "sgd"} {
		for _, dt := range []tensor.DType{tensor.Float64, tensor.Float32} {
			t.Run(kind+"/"+dt.String(), func(t *testing.T) {
				o := OptimizerOptions{WeightDecay: 0.01}
				// A runs 6 steps straight; B runs 3, saves, resumes in a new optimizer.
				psA, psB := optParams(t, dt, 3), optParams(t, dt, 3)
				rngA, rngB := tensor.NewRNG(4), tensor.NewRNG(4)
				full, _ := NewOptimizer(kind, o)
				first, _ := NewOptimizer(kind, o)
				for k := 0; k < 6; k++ {
					setGrads(psA, rngA)
					full.Step(psA, 0.01*float64(k+1), nil)
				}
				for k := 0; k < 3; k++ {
					setGrads(psB, rngB)
					first.Step(psB, 0.01*float64(k+1), nil)
				}
				resumed, _ := NewOptimizer(kind, o)
				if err := resumed.LoadState(cloneState(first.State(), dt), psB); err != nil {
					t.Fatal(err)
				}
				if resumed.Steps() != 3 {
					t.Fatalf("Steps() after LoadState = %d, want 3", resumed.Steps())
				}
				for k := 3; k < 6; k++ {
					setGrads(psB, rngB)
					resumed.Step(psB, 0.01*float64(k+1), nil)
				}
				for i := range psA {
					a, b := psA[i].Value.ToFloat64s(), psB[i].Value.ToFloat64s()
					for j := range a {
						if a[j] != b[j] {
							t.Fatalf("%s[%d]: 6 straight steps %.17g, resumed %.17g", psA[i].Name, j, a[j], b[j])
						}
					}
				}
				sa, sb := full.State(), resumed.State()
				if len(sa) != len(sb) {
					t.Fatalf("state sizes %d vs %d", len(sa), len(sb))
				}
				for k, v := range sa {
					x, y := v.ToFloat64s(), sb[k].ToFloat64s()
					for j := range x {
						if x[j] != y[j] {
							t.Fatalf("state %s[%d]: %.17g vs %.17g", k, j, x[j], y[j])
						}
					}
				}
			})
		}
	}
}

func TestOptimizerLoadStateErrors(t *testing.T) {
	ps := optParams(t, tensor.Float64, 5)
	setGrads(ps, tensor.NewRNG(6))
	src, _ := NewOptimizer("adam", OptimizerOptions{})
	src.Step(ps, 0.1, nil)
	good := src.State()
	be := tensor.DefaultCPU()
	edit := func(f func(st map[string]*tensor.Tensor)) map[string]*tensor.Tensor {
		st := cloneState(good, tensor.Float64)
		f(st)
		return st
	}
	sgd, _ := NewOptimizer("sgd", OptimizerOptions{})
	sgd.Step(ps, 0.1, nil)
	cases := []struct {
		name, want string
		st         map[string]*tensor.Tensor
	}{
		{"no step", "missing adam.step", edit(func(st map[string]*tensor.Tensor) { delete(st, "adam.step") })},
		{"partial", "missing adam.exp_avg_sq.w", edit(func(st map[string]*tensor.Tensor) { delete(st, "adam.exp_avg_sq.w") })},
		{"unknown", `parameter "gone"`, edit(func(st map[string]*tensor.Tensor) { st["adam.exp_avg.gone"] = be.Zeros(tensor.Float64, 2) })},
		{"shape", "adam.exp_avg.b has shape [4]", edit(func(st map[string]*tensor.Tensor) { st["adam.exp_avg.b"] = be.Zeros(tensor.Float64, 4) })},
		{"fraction", "adam.step = 1.5", edit(func(st map[string]*tensor.Tensor) { st["adam.step"] = tensor.Scalar(be, tensor.Float64, 1.5) })},
		{"bad key", "unexpected tensor adam.exp_avgx.w", edit(func(st map[string]*tensor.Tensor) { st["adam.exp_avgx.w"] = be.Zeros(tensor.Float64, 1) })},
		{"other optimizer", "missing adam.step", cloneState(sgd.State(), tensor.Float64)},
	}
	for _, c := range cases {
		opt, _ := NewOptimizer("adam", OptimizerOptions{})
		err := opt.LoadState(c.st, ps)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
		if opt.Steps() != 0 || len(opt.State()) != 1 {
			t.Errorf("%s: a failed LoadState changed the optimizer", c.name)
		}
	}
	// Foreign keys are ignored; a parameter without entries starts fresh.
	st := edit(func(st map[string]*tensor.Tensor) {
		st["model.w"] = be.Zeros(tensor.Float64, 1)
		for _, k := range []string{"exp_avg", "exp_avg_sq", "step"} {
			delete(st, "adam."+k+".b")
		}
	})
	opt, _ := NewOptimizer("adam", OptimizerOptions{})
	if err := opt.LoadState(st, ps); err != nil {
		t.Fatalf("valid state refused: %v", err)
	}
}

func TestClipGradNorm(t *testing.T) {
	ps := append(optParams(t, tensor.Float64, 7), autodiff.NewParam("nograd", tensor.DefaultCPU().Zeros(tensor.Float64, 2)))
	setGrads(ps[:2], tensor.NewRNG(8))
	direct := 0.0
	var before [][]float64
	for _, p := range ps[:2] {
		g := p.Grad.ToFloat64s()
		before = append(before, g)
		for _, v := range g {
			direct += v * v
		}
	}
	direct = math.Sqrt(direct)
	// Above the norm (and with +Inf): returned exactly, gradients untouched.
	for _, max := range []float64{2 * direct, math.Inf(1)} {
		if got := ClipGradNorm(ps, max); math.Abs(got-direct) > 1e-12*direct {
			t.Fatalf("total %.17g, direct %.17g", got, direct)
		}
		for i, p := range ps[:2] {
			for j, v := range p.Grad.ToFloat64s() {
				if v != before[i][j] {
					t.Fatalf("max %g: gradient changed without clipping", max)
				}
			}
		}
	}
	// Below: every gradient scaled by max/(total+1e-6), the new norm ≈ max.
	ClipGradNorm(ps, 0.5)
	c := 0.5 / (direct + 1e-6)
	for i, p := range ps[:2] {
		for j, v := range p.Grad.ToFloat64s() {
			if math.Abs(v-c*before[i][j]) > 1e-15 {
				t.Fatalf("%s[%d] = %g, want %g", p.Name, j, v, c*before[i][j])
			}
		}
	}
	if n := ClipGradNorm(ps, math.Inf(1)); math.Abs(n-0.5) > 1e-6 {
		t.Errorf("norm after clipping %g, want 0.5", n)
	}
	// NaN or Inf anywhere: reported, nothing scaled.
	for _, bad := range []float64{math.NaN(), math.Inf(-1)} {
		ps[1].Grad.Set(bad, 0)
		w := ps[0].Grad.ToFloat64s()
		got := ClipGradNorm(ps, 1e-3)
		if !math.IsNaN(got) && !math.IsInf(got, 1) {
			t.Errorf("grad %g: total %g, want NaN or +Inf", bad, got)
		}
		if ps[0].Grad.At(0, 0) != w[0] {
			t.Errorf("grad %g: gradients were scaled", bad)
		}
	}
}

func TestScaleGrads(t *testing.T) {
	ps := optParams(t, tensor.Float32, 9)
	setGrads(ps, tensor.NewRNG(10))
	w := ps[0].Grad.ToFloat64s()
	ScaleGrads(ps, 0.25) // a power of two: exact
	for j, v := range ps[0].Grad.ToFloat64s() {
		if v != w[j]/4 {
			t.Fatalf("[%d] = %g, want %g", j, v, w[j]/4)
		}
	}
}

func TestNewOptimizerOptions(t *testing.T) {
	opt, err := NewOptimizer("adam", OptimizerOptions{Beta2: 0.95})
	if a, ok := opt.(*Adam); err != nil || !ok || a.Beta1 != 0.9 || a.Beta2 != 0.95 || a.Eps != 1e-8 || a.WeightDecay != 0 {
		t.Errorf("adam defaults: %+v, %v", opt, err)
	}
	opt, err = NewOptimizer("sgd", OptimizerOptions{})
	if s, ok := opt.(*SGD); err != nil || !ok || s.Momentum != 0.9 {
		t.Errorf("sgd defaults: %+v, %v", opt, err)
	}
	for _, c := range []struct {
		kind string
		o    OptimizerOptions
		want string
	}{
		{"lamb", OptimizerOptions{}, "unknown kind"},
		{"adamw", OptimizerOptions{Beta1: 1}, "beta1"},
		{"adam", OptimizerOptions{Beta1: 1}, "beta1"},
		{"adam", OptimizerOptions{Beta2: -0.1}, "beta2"},
		{"adam", OptimizerOptions{Beta2: math.NaN()}, "beta2"},
		{"adam", OptimizerOptions{Eps: -1}, "eps"},
		{"adam", OptimizerOptions{WeightDecay: -1e-4}, "weight_decay"},
		{"sgd", OptimizerOptions{Momentum: 1.5}, "momentum"},
	} {
		if _, err := NewOptimizer(c.kind, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %+v: error %v, want one about %s", c.kind, c.o, err, c.want)
		}
	}
}

// After the first step creates the state, a step reuses pooled memory only.
func TestOptimizerStepNoAllocations(t *testing.T) {
	be := tensor.NewCPU()
	v := be.Empty(tensor.Float64, 4, 4)
	be.Fill(v, 1)
	p := autodiff.NewParam("w", v)
	p.Grad = be.Zeros(tensor.Float64, 4, 4)
	be.Fill(p.Grad, 0.5)
	ps := []*autodiff.Param{p}
	for _, kind := range []string{"adam", "sgd"} {
		opt, _ := NewOptimizer(kind, OptimizerOptions{WeightDecay: 0.1})
		opt.Step(ps, 0.1, nil)
		ClipGradNorm(ps, 0.1)
		before := be.MemStats()
		opt.Step(ps, 0.1, nil)
		ClipGradNorm(ps, 0.1)
		if after := be.MemStats(); after.Allocs != before.Allocs || after.InUseBytes != before.InUseBytes {
			t.Errorf("%s: steady-state step allocated: %+v -> %+v", kind, before, after)
		}
	}
}

// Known points of the closed forms; 1e-15 absolute covers a few roundings of
// values of order 1.
func TestScheduleKnownPoints(t *testing.T) {
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-15 {
			t.Errorf("%s = %.17g, want %.17g", what, got, want)
		}
	}
	c := Cosine{Base: 1, Min: 0.2, Total: 100}
	near("cosine(0)", c.LR(0), 1)
	near("cosine(Total/2)", c.LR(50), 0.6)
	near("cosine(Total/4)", c.LR(25), 0.2+0.8*(1+math.Sqrt2/2)/2)
	near("cosine(Total)", c.LR(100), 0.2)
	near("cosine(after)", c.LR(1000), 0.2)
	l := Linear{Base: 1, Min: 0, Total: 10}
	near("linear(0)", l.LR(0), 1)
	near("linear(5)", l.LR(5), 0.5)
	near("linear(10)", l.LR(10), 0)
	w := Warmup{Steps: 4, Then: Constant{Rate: 2}}
	for k, want := range []float64{0.5, 1, 1.5, 2, 2, 2} {
		near("warmup", w.LR(k), want)
	}
	// A run of 110 steps, 10 of them warm-up: ramp to base, cosine to min at the end.
	s, err := NewSchedule("cosine", 1e-3, 110, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	near("first", s.LR(0), 1e-4)
	near("end of ramp", s.LR(9), 1e-3)
	near("start of cosine", s.LR(10), 1e-3)
	near("middle", s.LR(60), 5e-4)
	near("end", s.LR(110), 0)
	s, _ = NewSchedule("linear", 1, 10, 0, 0.5)
	near("linear min", s.LR(10), 0.5)
	s, _ = NewSchedule("constant", 0.1, 0, 0, 0)
	near("constant", s.LR(12345), 0.1)
}

func TestNewScheduleErrors(t *testing.T) {
	for _, c := range []struct {
		kind          string
		base          float64
		total, warmup int
		min           float64
		want          string
	}{
		{"step", 1, 10, 0, 0, "unknown kind"},
		{"cosine", 0, 10, 0, 0, "learning rate"},
		{"cosine", math.NaN(), 10, 0, 0, "learning rate"},
		{"cosine", 1, 10, -1, 0, "warmup"},
		{"cosine", 1, 10, 10, 0, "more total steps"},
		{"linear", 1, 0, 0, 0, "more total steps"},
		{"cosine", 1, 10, 0, 2, "min_lr"},
		{"linear", 1, 10, 0, -1, "min_lr"},
	} {
		if _, err := NewSchedule(c.kind, c.base, c.total, c.warmup, c.min); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one containing %q", c, err, c.want)
		}
	}
}
