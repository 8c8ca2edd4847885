package bench

import (
	"fmt"
	"math"
	"strings"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/fdpar"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// DerivativeOptions size the directional-derivative benchmark (paper Fig. 2).
type DerivativeOptions struct {
	Backend       tensor.Backend // the device (nil: a fresh CPU backend)
	MaxOrder      int            // highest order T; default 5
	Eps           float64        // ‖v‖, the FD step; default 0.3
	Batch         int            // default 16
	Rounds, Iters int            // defaults 3 and 2
	Progress      func(order int)
}

// DerivativeOrder is one order's figures.
type DerivativeOrder struct {
	Order      int     `json:"order"`
	Eps        float64 `json:"eps"`
	ExactMs    float64 `json:"exact_ms"`
	FDMs       float64 `json:"fd_ms"`     // batched evaluation
	FDSeqMs    float64 `json:"fd_seq_ms"` // one call per shifted block
	ExactBytes int64   `json:"exact_bytes"`
	FDBytes    int64   `json:"fd_bytes"`
	FDSeqBytes int64   `json:"fd_seq_bytes"`
	RelErr     float64 `json:"rel_err"`
}

// DerivativeResult is the benchmark.
type DerivativeResult struct {
	Backend string            `json:"backend"`
	Model   string            `json:"model"`
	Batch   int               `json:"batch"`
	Orders  []DerivativeOrder `json:"orders"`
}

// Derivative computes the T-th directional derivative (vᵀ∇ₓ)ᵀ log p(x) of a
// small resnet_ebm (shifted softplus, so it is smooth) for T = 1..MaxOrder:
// exactly, by T nested Grad calls with CreateGraph, and by the FD stencil
// fdpar.Default(T) (T+1 evaluations; batched and sequential), in float64.
// The network's directional derivatives fall by about two orders of
// magnitude per order on inputs in [0,1], so rounding (≈1e-16·Σ|w|·|log p|/ε^T)
// swamps small steps at high orders; ε = 0.3 (in units of the input range)
// keeps both truncation and rounding small up to order 5. Error:
// ‖FD - exact‖/‖exact‖ over the batch.
func Derivative(opts DerivativeOptions) (DerivativeResult, error) {
	if opts.MaxOrder <= 0 {
		opts.MaxOrder = 5
	}
	if opts.Batch <= 0 {
		opts.Batch = 16
	}
	if opts.Eps <= 0 {
		opts.Eps = 0.3
	}
	if opts.Rounds <= 0 {
		opts.Rounds = 3
	}
	if opts.Iters <= 0 {
		opts.Iters = 2
	}
	be := opts.Backend
	if be == nil {
		be = tensor.NewCPU()
	}
	b, err := newDerivativeBench(be, opts)
	if err != nil {
		return DerivativeResult{}, err
	}
	res := DerivativeResult{Backend: be.Name(), Model: "resnet_ebm n_chan=8 16x16 (3 blocks)", Batch: opts.Batch}
	for T := 1; T <= opts.MaxOrder; T++ {
		if opts.Progress != nil {
			opts.Progress(T)
		}
		res.Orders = append(res.Orders, b.order(T))
	}
	return res, nil
}

// derivativeBench holds the model and the inputs every order differentiates.
type derivativeBench struct {
	opts  DerivativeOptions
	be    tensor.Backend
	e     models.Energy
	tp    *ad.Tape
	shape []int          // the batch's
	x, u  *tensor.Tensor // inputs, and unit directions
}

// newDerivativeBench builds the model on be and draws the inputs and
// directions (always the same: the RNG is seeded).
func newDerivativeBench(be tensor.Backend, opts DerivativeOptions) (*derivativeBench, error) {
	spec := models.Spec{Kind: "resnet_ebm", Options: map[string]any{"n_chan": 8, "image_size": 16, "activation": "shifted_softplus",
		"blocks": []any{map[string]any{"out": 16, "down": true}, map[string]any{"out": 16}, map[string]any{"out": 32, "down": true}}}}
	m, err := models.Build(spec, be, tensor.Float64, 1)
	if err != nil {
		return nil, err
	}
	e := m.(models.Energy)
	rng := tensor.NewRNG(4)
	shape := append([]int{opts.Batch}, m.InputShape()...)
	x := be.Empty(tensor.Float64, shape...)
	be.Random(x, tensor.Uniform(0, 1), rng)
	u := be.Empty(tensor.Float64, shape...)
	be.Random(u, tensor.Normal(0, 1), rng)
	normalizeRows(u)
	return &derivativeBench{opts: opts, be: be, e: e, tp: ad.NewTape(be), shape: shape, x: x, u: u}, nil
}

// order measures the T-th derivative exactly and by the FD stencil, batched
// and sequential, along v = ε·u.
func (b *derivativeBench) order(T int) DerivativeOrder {
	eps := b.opts.Eps
	v := b.be.Empty(tensor.Float64, b.shape...)
	b.be.ScalarOp(tensor.OpMul, v, b.u, eps, false)
	st := fdpar.Default(T)
	o := DerivativeOrder{Order: T, Eps: eps}
	var ex, fdv []float64
	o.ExactMs, o.ExactBytes, ex = b.measure(func() []float64 { return b.exact(T, v) })
	o.FDMs, o.FDBytes, fdv = b.measure(func() []float64 { return b.fd(st, v, fdpar.Batched{}) })
	o.FDSeqMs, o.FDSeqBytes, _ = b.measure(func() []float64 { return b.fd(st, v, fdpar.Sequential{}) })
	o.RelErr = relErr(fdv, ex)
	return o
}

// exact differentiates T times along v by nested Grad calls, and returns
// each sample's T-th directional derivative.
func (b *derivativeBench) exact(T int, v *tensor.Tensor) []float64 {
	xv := b.tp.Leaf(b.x)
	vv := b.tp.Const(v)
	f := ad.Sum(b.e.LogDensity(xv))
	var per *ad.Var
	for k := 0; k < T; k++ {
		g := ad.Grad([]*ad.Var{f}, []*ad.Var{xv}, ad.GradOptions{CreateGraph: k+1 < T})[0]
		per = ad.Sum(ad.Reshape(ad.Mul(vv, g), b.opts.Batch, -1), 1)
		f = ad.Sum(per)
	}
	return per.Value().ToFloat64s()
}

// fd evaluates the stencil st along v with exec.
func (b *derivativeBench) fd(st fdpar.Stencil, v *tensor.Tensor, exec fdpar.Executor) []float64 {
	plan := fdpar.PlanFor(st)
	vals := exec.Run(plan, b.tp.Const(b.x), b.tp.Const(v), b.e.LogDensity)
	return plan.Combine(vals, st.Weights).Value().ToFloat64s()
}

// measure runs f once for its result and peak memory, then times it: the
// median over rounds of Iters calls.
func (b *derivativeBench) measure(f func() []float64) (ms float64, bytes int64, out []float64) {
	be, tp := b.be, b.tp
	be.ResetPeak()
	base := be.MemStats().InUseBytes
	out = f()
	bytes = be.MemStats().PeakBytes - base
	tp.Reset()
	var ts []float64
	for r := 0; r < b.opts.Rounds; r++ {
		ts = append(ts, timeOn(be, b.opts.Iters, func() { f(); tp.Reset() }))
	}
	return median(ts), bytes, out
}

// relErr is ‖got - want‖/‖want‖.
func relErr(got, want []float64) float64 {
	var num, den float64
	for i := range want {
		num += (got[i] - want[i]) * (got[i] - want[i])
		den += want[i] * want[i]
	}
	return math.Sqrt(num / den)
}

// normalizeRows scales each sample of a float64 tensor to unit norm (on
// the host: set-up, not timed).
func normalizeRows(t *tensor.Tensor) {
	v, n := t.ToFloat64s(), t.Dim(0)
	defer tensor.WriteAs(t, v)
	d := len(v) / n
	for i := 0; i < n; i++ {
		s := 0.0
		for _, a := range v[i*d : (i+1)*d] {
			s += a * a
		}
		s = math.Sqrt(s)
		for j := i * d; j < (i+1)*d; j++ {
			v[j] /= s
		}
	}
}

// String formats the result as a table.
func (r DerivativeResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "directional derivatives of log p, %s, batch %d, float64 (%s)\n", r.Model, r.Batch, r.Backend)
	fmt.Fprintf(&b, "%5s %8s %10s %10s %10s %11s %11s %11s %9s\n", "order", "eps", "exact ms", "fd ms", "fd seq ms", "exact MiB", "fd MiB", "fd seq MiB", "rel err")
	for _, o := range r.Orders {
		fmt.Fprintf(&b, "%5d %8.3g %10.2f %10.2f %10.2f %11.1f %11.1f %11.1f %9.2e\n", o.Order, o.Eps, o.ExactMs, o.FDMs, o.FDSeqMs,
			float64(o.ExactBytes)/(1<<20), float64(o.FDBytes)/(1<<20), float64(o.FDSeqBytes)/(1<<20), o.RelErr)
	}
	return b.String()
}
