package trainer

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// Optimizer updates parameters from their gradient buffers. Parameters with a
// nil Grad are skipped (PyTorch skips parameters whose .grad is None). All
// arithmetic goes through tensor.Backend primitives, so any backend works, and
// state tensors have their parameter's dtype and backend, as in PyTorch.
type Optimizer interface {
	// Step enqueues one update with learning rate lr, gated on the
	// parameters' backend by gate, a [2] tensor there holding a gradient
	// multiplier and a flag (0: leave everything as it was); nil applies
	// the update with multiplier 1. The host never learns whether a gated
	// step applied: step counts live on the backend too.
	Step(params []*autodiff.Param, lr float64, gate *tensor.Tensor)
	// State returns the optimizer state by name for checkpointing. Buffer
	// tensors are the live ones (save them before the next Step); counters
	// are fresh one-element float64 host tensors.
	State() map[string]*tensor.Tensor
	// LoadState replaces the state with copies of st's entries for params.
	// Keys outside this optimizer's prefix ("adam." or "sgd.") are ignored, so
	// st may also hold other tensors. A parameter without entries starts
	// fresh, as one that never had a gradient; unknown parameters, partial or
	// misshapen entries and a missing step count are errors. On error the
	// optimizer is unchanged.
	LoadState(st map[string]*tensor.Tensor, params []*autodiff.Param) error
	// Steps returns how many times Step has been called, gated-off calls
	// included (restored by LoadState).
	Steps() int
}

// OptimizerOptions configures NewOptimizer. Zero fields take the defaults
// (Beta1 0.9, Beta2 0.999, Eps 1e-8, Momentum 0.9), except WeightDecay, whose
// zero means none. Set the Adam or SGD fields directly for a zero beta or
// momentum.
type OptimizerOptions struct {
	Beta1, Beta2 float64 // Adam moment decay rates, in [0, 1)
	Eps          float64 // Adam denominator term, > 0
	WeightDecay  float64 // L2 penalty added to the gradient, >= 0
	Momentum     float64 // SGD momentum, in [0, 1)
}

// NewOptimizer returns the optimizer kind ("adam", "adamw" or "sgd") with options o,
// after defaulting and validating them.
func NewOptimizer(kind string, o OptimizerOptions) (Optimizer, error) {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.Beta1, 0.9)
	def(&o.Beta2, 0.999)
	def(&o.Eps, 1e-8)
	def(&o.Momentum, 0.9)
	// Written as negated ranges so NaN fails too.
	unit := func(name string, v float64) error {
		if !(v >= 0 && v < 1) {
			return fmt.Errorf("optimizer: %s must be in [0, 1), got %g", name, v)
		}
		return nil
	}
	if !(o.WeightDecay >= 0) || math.IsInf(o.WeightDecay, 0) {
		return nil, fmt.Errorf("optimizer: weight_decay must be finite and >= 0, got %g", o.WeightDecay)
	}
	switch kind {
	case "adam", "adamw":
		for _, e := range []error{unit("beta1", o.Beta1), unit("beta2", o.Beta2)} {
			if e != nil {
				return nil, e
			}
		}
		if !(o.Eps > 0) || math.IsInf(o.Eps, 0) {
			return nil, fmt.Errorf("optimizer: eps must be finite and > 0, got %g", o.Eps)
		}
		return &Adam{Beta1: o.Beta1, Beta2: o.Beta2, Eps: o.Eps, WeightDecay: o.WeightDecay, Decoupled: kind == "adamw"}, nil
	case "sgd":
		if err := unit("momentum", o.Momentum); err != nil {
			return nil, err
		}
		return &SGD{Momentum: o.Momentum, WeightDecay: o.WeightDecay}, nil
	}
	return nil, fmt.Errorf("optimizer: unknown kind %q (valid: adam, adamw, sgd)", kind)
}

// Adam is torch.optim.Adam (amsgrad=False, maximize=False): with
// g = grad + WeightDecay·θ and t the parameter's own step count,
//
//	m ← β1·m + (1-β1)·g,  v ← β2·v + (1-β2)·g²,
//	θ ← θ - lr/(1-β1^t) · m / (√v/√(1-β2^t) + ε).
//
// State: "adam.step" (Step calls) and, per parameter, "adam.exp_avg.<name>",
// "adam.exp_avg_sq.<name>" and "adam.step.<name>" (PyTorch keeps the step per
// parameter, so one that skips steps still gets its own bias correction).
//
// With Decoupled it is torch.optim.AdamW: g = grad and θ ← (1 - lr·wd)·θ
// before the update (the state is Adam's).
type Adam struct {
	Beta1, Beta2, Eps, WeightDecay float64
	Decoupled                      bool

	steps int
	state map[string]*adamState
	ones  gates
}

type adamState struct {
	m, v, t *tensor.Tensor // t: the parameter's step count, on its backend
}

// Step implements Optimizer: one fused, gated AdamStep per parameter.
func (a *Adam) Step(params []*autodiff.Param, lr float64, gate *tensor.Tensor) {
	a.steps++
	if a.state == nil {
		a.state = map[string]*adamState{}
	}
	checkUniqueNames(params)
	args := tensor.AdamArgs{LR: lr, Beta1: a.Beta1, Beta2: a.Beta2, Eps: a.Eps, WeightDecay: a.WeightDecay, Decoupled: a.Decoupled}
	for _, p := range params {
		if p.Grad == nil {
			continue
		}
		checkGradShape(p)
		be, dt, shape := p.Value.Backend(), p.Value.DType(), p.Value.Shape()
		st := a.state[p.Name]
		if st == nil {
			st = &adamState{m: be.Zeros(dt, shape...), v: be.Zeros(dt, shape...), t: be.Zeros(dt, 1)}
			a.state[p.Name] = st
		} else if !st.m.Shape().Equal(shape) {
			panic(fmt.Sprintf("trainer: adam state of %s is %v, parameter %v", p.Name, st.m.Shape(), shape))
		}
		be.AdamStep(p.Value, p.Grad, st.m, st.v, st.t, a.ones.or(gate, be, dt), args)
	}
}

// Steps implements Optimizer.
func (a *Adam) Steps() int { return a.steps }

// State implements Optimizer.
func (a *Adam) State() map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{"adam.step": counter(a.steps)}
	for name, st := range a.state {
		n := int(st.t.Item()) // a host read, at checkpoints only
		if n == 0 {
			continue // every step so far was gated off: no state yet
		}
		out["adam.exp_avg."+name] = st.m
		out["adam.exp_avg_sq."+name] = st.v
		out["adam.step."+name] = counter(n)
	}
	return out
}

// LoadState implements Optimizer.
func (a *Adam) LoadState(st map[string]*tensor.Tensor, params []*autodiff.Param) error {
	steps, per, err := parseState("adam.", []string{"exp_avg", "exp_avg_sq", "step"}, st, params)
	if err != nil {
		return err
	}
	state := map[string]*adamState{}
	for _, p := range params {
		e := per[p.Name]
		if e == nil {
			continue
		}
		n, err := count("adam.step."+p.Name, e["step"], 1)
		if err != nil {
			return err
		}
		state[p.Name] = &adamState{m: copyFor(p, e["exp_avg"]), v: copyFor(p, e["exp_avg_sq"]), t: stepCount(p, n)}
	}
	a.steps, a.state = steps, state
	return nil
}

// SGD is torch.optim.SGD with dampening 0 and nesterov off: with
// g = grad + WeightDecay·θ, b ← g on a parameter's first step and
// b ← Momentum·b + g afterwards, then θ ← θ - lr·b (θ ← θ - lr·g when
// Momentum is 0). State: "sgd.step" (Step calls) and
// "sgd.momentum_buffer.<name>".
type SGD struct {
	Momentum, WeightDecay float64

	steps int
	buf   map[string]*tensor.Tensor
	t     map[string]*tensor.Tensor // per parameter, on its backend: 0 until its first applied step
	ones  gates
}

// Step implements Optimizer: one fused, gated SGDStep per parameter.
func (s *SGD) Step(params []*autodiff.Param, lr float64, gate *tensor.Tensor) {
	s.steps++
	if s.buf == nil {
		s.buf, s.t = map[string]*tensor.Tensor{}, map[string]*tensor.Tensor{}
	}
	checkUniqueNames(params)
	args := tensor.SGDArgs{LR: lr, Momentum: s.Momentum, WeightDecay: s.WeightDecay}
	for _, p := range params {
		if p.Grad == nil {
			continue
		}
		checkGradShape(p)
		be, dt, shape := p.Value.Backend(), p.Value.DType(), p.Value.Shape()
		b, t := s.buf[p.Name], s.t[p.Name]
		if t == nil {
			t = be.Zeros(dt, 1)
			s.t[p.Name] = t
		}
		if s.Momentum != 0 {
			switch {
			case b == nil:
				b = be.Zeros(dt, shape...)
				s.buf[p.Name] = b
			case !b.Shape().Equal(shape):
				panic(fmt.Sprintf("trainer: sgd momentum buffer of %s is %v, parameter %v", p.Name, b.Shape(), shape))
			}
		}
		be.SGDStep(p.Value, p.Grad, b, t, s.ones.or(gate, be, dt), args)
	}
}

// Steps implements Optimizer.
func (s *SGD) Steps() int { return s.steps }

// State implements Optimizer.
func (s *SGD) State() map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{"sgd.step": counter(s.steps)}
	for name, b := range s.buf {
		if s.t[name].Item() == 0 { // a host read, at checkpoints only
			continue // every step so far was gated off: no buffer yet
		}
		out["sgd.momentum_buffer."+name] = b
	}
	return out
}

// LoadState implements Optimizer.
func (s *SGD) LoadState(st map[string]*tensor.Tensor, params []*autodiff.Param) error {
	steps, per, err := parseState("sgd.", []string{"momentum_buffer"}, st, params)
	if err != nil {
		return err
	}
	buf, ts := map[string]*tensor.Tensor{}, map[string]*tensor.Tensor{}
	for _, p := range params {
		if e := per[p.Name]; e != nil {
			buf[p.Name] = copyFor(p, e["momentum_buffer"])
			ts[p.Name] = stepCount(p, 1) // a buffer means a step was taken
		}
	}
	s.steps, s.buf, s.t = steps, buf, ts
	return nil
}

// gates holds a gate that always applies (multiplier 1, flag 1) per
// backend and dtype, for Step calls without one.
type gates map[tensor.Backend]map[tensor.DType]*tensor.Tensor

func (g *gates) or(gate *tensor.Tensor, be tensor.Backend, dt tensor.DType) *tensor.Tensor {
	if gate != nil {
		return gate
	}
	if *g == nil {
		*g = gates{}
	}
	if (*g)[be] == nil {
		(*g)[be] = map[tensor.DType]*tensor.Tensor{}
	}
	t := (*g)[be][dt]
	if t == nil {
		t = be.Empty(dt, 2)
		be.Fill(t, 1)
		(*g)[be][dt] = t
	}
	return t
}

// stepCount returns a parameter's step count n as a one-element tensor on
// its backend.
func stepCount(p *autodiff.Param, n int) *tensor.Tensor {
	t := p.Value.Backend().Empty(p.Value.DType(), 1)
	p.Value.Backend().Fill(t, float64(n))
	return t
}

func checkGradShape(p *autodiff.Param) {
	if !p.Grad.Shape().Equal(p.Value.Shape()) || p.Grad.DType() != p.Value.DType() {
		panic(fmt.Sprintf("trainer: gradient of %s is %s %v, parameter %s %v",
			p.Name, p.Grad.DType(), p.Grad.Shape(), p.Value.DType(), p.Value.Shape()))
	}
}

// checkUniqueNames panics on repeated names: state is keyed by name, so two
// parameters sharing one would silently share moments.
func checkUniqueNames(params []*autodiff.Param) {
	if err := uniqueNames(params); err != nil {
		panic("trainer: " + err.Error())
	}
}

func uniqueNames(params []*autodiff.Param) error {
	seen := make(map[string]bool, len(params))
	for _, p := range params {
		if seen[p.Name] {
			return fmt.Errorf("two parameters are named %q; optimizer state is keyed by name", p.Name)
		}
		seen[p.Name] = true
	}
	return nil
}

// parseState checks the entries of st under prefix against params: the
// global "<prefix>step" count and, per parameter, either every kind or none
// ("<prefix><kind>.<name>", a count for kind "step", else the parameter's
// shape). It returns the count and each parameter's entries by kind.
func parseState(prefix string, kinds []string, st map[string]*tensor.Tensor, params []*autodiff.Param) (int, map[string]map[string]*tensor.Tensor, error) {
	if err := uniqueNames(params); err != nil {
		return 0, nil, fmt.Errorf("optimizer state: %w", err)
	}
	byName := make(map[string]*autodiff.Param, len(params))
	for _, p := range params {
		byName[p.Name] = p
	}
	steps, err := count(prefix+"step", st[prefix+"step"], 0)
	if err != nil {
		return 0, nil, err
	}
	per := map[string]map[string]*tensor.Tensor{}
	for _, key := range sortedKeys(st) {
		rest, ok := strings.CutPrefix(key, prefix)
		if !ok || rest == "step" {
			continue
		}
		kind, name := "", ""
		for _, k := range kinds {
			if n, ok := strings.CutPrefix(rest, k+"."); ok {
				kind, name = k, n
				break
			}
		}
		if kind == "" {
			return 0, nil, fmt.Errorf("optimizer state: unexpected tensor %s", key)
		}
		p := byName[name]
		if p == nil {
			return 0, nil, fmt.Errorf("optimizer state: %s is for parameter %q, which the model does not have", key, name)
		}
		t := st[key]
		if t == nil {
			return 0, nil, fmt.Errorf("optimizer state: %s is nil", key)
		}
		if kind != "step" && !t.Shape().Equal(p.Value.Shape()) {
			return 0, nil, fmt.Errorf("optimizer state: %s has shape %v, parameter %s has %v", key, t.Shape(), name, p.Value.Shape())
		}
		if per[name] == nil {
			per[name] = map[string]*tensor.Tensor{}
		}
		per[name][kind] = t
	}
	for name, e := range per {
		for _, k := range kinds {
			if e[k] == nil {
				return 0, nil, fmt.Errorf("optimizer state: missing %s%s.%s (the state has other entries for %s)", prefix, k, name, name)
			}
		}
	}
	return steps, per, nil
}

// count reads a step counter: one element holding an integer >= min.
func count(key string, t *tensor.Tensor, min int) (int, error) {
	if t == nil {
		return 0, fmt.Errorf("optimizer state: missing %s (was the state saved by another optimizer?)", key)
	}
	if t.Numel() != 1 {
		return 0, fmt.Errorf("optimizer state: %s must have one element, has shape %v", key, t.Shape())
	}
	v := t.Item()
	if !(v >= float64(min)) || v != math.Trunc(v) || v > 1<<53 {
		return 0, fmt.Errorf("optimizer state: %s = %g is not an integer >= %d", key, v, min)
	}
	return int(v), nil
}

// counter returns n as a one-element float64 host tensor (exact below 2^53).
func counter(n int) *tensor.Tensor {
	return tensor.NewHostTensor(tensor.DefaultCPU(), tensor.Shape{1}, nil, []float64{float64(n)})
}

// copyFor copies src onto p's backend in p's dtype (bitwise when the dtypes
// agree; src may live on another backend, e.g. a host tensor read from disk).
func copyFor(p *autodiff.Param, src *tensor.Tensor) *tensor.Tensor {
	be := p.Value.Backend()
	dst := be.Empty(p.Value.DType(), p.Value.Shape()...)
	switch {
	case src.Backend() == be:
		be.Copy(dst, src)
	case src.DType() == dst.DType():
		raw := make([]byte, src.Bytes())
		src.Backend().ReadBytes(raw, src)
		be.WriteBytes(dst, raw)
	default:
		tensor.WriteAs(dst, src.ToFloat64s())
	}
	return dst
}

func sortedKeys(m map[string]*tensor.Tensor) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ClipGradNorm is torch.nn.utils.clip_grad_norm_ (2-norm): it returns the
// total norm of all gradients (nil ones skipped) and, when
// c = maxNorm/(total+1e-6) < 1, scales every gradient by c. A NaN or Inf total
// is returned without touching the gradients; maxNorm = +Inf never clips.
// The norm is one SumSquares on the backend and one host read (the
// training step keeps it on the backend instead: see stepGate).
func ClipGradNorm(params []*autodiff.Param, maxNorm float64) (total float64) {
	if !(maxNorm >= 0) {
		panic(fmt.Sprintf("trainer: ClipGradNorm max norm must be >= 0, got %g", maxNorm))
	}
	grads := gradsOf(params)
	if len(grads) == 0 {
		return 0
	}
	be := grads[0].Backend()
	ss := be.Empty(grads[0].DType(), 1)
	be.SumSquares(ss, grads)
	total = math.Sqrt(ss.Item())
	be.Release(ss)
	if math.IsNaN(total) || math.IsInf(total, 0) {
		return total
	}
	// PyTorch clamps the coefficient at 1 rather than testing total > maxNorm.
	if c := maxNorm / (total + 1e-6); c < 1 {
		ScaleGrads(params, c)
	}
	return total
}

// gradsOf returns the non-nil gradients of params.
func gradsOf(params []*autodiff.Param) []*tensor.Tensor {
	var gs []*tensor.Tensor
	for _, p := range params {
		if p.Grad != nil {
			gs = append(gs, p.Grad)
		}
	}
	return gs
}

// ScaleGrads multiplies every non-nil gradient by s, e.g. s = 1/k to turn the
// sum of k accumulated micro-batch gradients into their mean.
func ScaleGrads(params []*autodiff.Param, s float64) {
	for _, g := range gradsOf(params) {
		g.Backend().ScalarOp(tensor.OpMul, g, g, s, false)
	}
}
