// Package bench measures fdsm's engine and (in later issues) its data
// pipeline and distributed training. Every figure is a median over rounds in
// which the compared quantities are measured side by side, after warm-up, so
// ratios hold on noisy machines.
package bench

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// EngineOptions size the engine benchmark. Zero values take the defaults.
type EngineOptions struct {
	Rounds int // measurement rounds (median taken); default 7
	Iters  int // iterations per round; default 20
	Warmup int // untimed iterations first; default 5
	Batch  int // MLP batch; default 192
	// Backend is the device to run on (nil: a fresh CPU backend).
	Backend tensor.Backend
	// Progress, if set, is called after each round.
	Progress func(done, total int)
}

func (o EngineOptions) withDefaults() EngineOptions {
	if o.Rounds <= 0 {
		o.Rounds = 7
	}
	if o.Iters <= 0 {
		o.Iters = 20
	}
	if o.Warmup <= 0 {
		o.Warmup = 5
	}
	if o.Batch <= 0 {
		o.Batch = 192
	}
	return o
}

// EngineResult holds the engine benchmark's figures (JSON field names as
// `fdsm bench engine --json` prints them).
type EngineResult struct {
	Backend    string `json:"backend"`
	Kernels    string `json:"kernels"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Rounds     int    `json:"rounds"`
	Iters      int    `json:"iters_per_round"`
	Batch      int    `json:"batch"`

	// MLP energy 784-512-512-1, softplus, float32: forward + backward of
	// the summed energy with respect to the weights.
	StepMs float64 `json:"step_ms"`
	// The same step's eight GEMMs alone, through the same BLAS.
	GemmMs       float64 `json:"gemm_ms"`
	StepOverGemm float64 `json:"step_over_gemm"` // step_ms / gemm_ms
	// Each round's step / GEMMs ratio (the rounds' scatter).
	StepOverGemmRounds []float64 `json:"step_over_gemm_rounds"`
	// The same step written by hand against the backend (preallocated
	// buffers, no tape): what autodiff's overhead is measured against.
	HandwrittenMs             float64   `json:"handwritten_ms"`
	StepOverHandwritten       float64   `json:"step_over_handwritten"` // step_ms / handwritten_ms
	StepOverHandwrittenRounds []float64 `json:"step_over_handwritten_rounds"`
	// GFLOPS is the step's GEMM flops divided by the step time (the rate the
	// whole step achieves); GemmGFLOPS is the BLAS rate on the GEMMs alone.
	GFLOPS        float64 `json:"gflops"`
	GemmGFLOPS    float64 `json:"gemm_gflops"`
	AllocsPerStep float64 `json:"allocs_per_step"`
	BytesPerStep  float64 `json:"bytes_per_step"`

	// What one MLP step asks of the host, counted by the device: host
	// synchronisations and bytes copied each way (0 for a step that only
	// enqueues work).
	HostSyncsPerStep float64 `json:"host_syncs_per_step"`
	H2DBytesPerStep  float64 `json:"h2d_bytes_per_step"`
	D2HBytesPerStep  float64 `json:"d2h_bytes_per_step"`

	// Conv block: conv 3x3 64->64 + bias + softplus on 32x32, batch 32,
	// forward + backward (input and weight gradients).
	ConvMs     float64 `json:"conv_ms"`
	ConvGFLOPS float64 `json:"conv_gflops"`
}

// Engine runs the engine benchmark on the CPU backend.
func Engine(opts EngineOptions) EngineResult {
	opts = opts.withDefaults()
	be := opts.Backend
	if be == nil {
		be = tensor.NewCPU()
	}
	mlp := newMLPBench(be, opts.Batch)
	hand := newHandMLP(mlp)
	conv := newConvBench(be)

	for i := 0; i < opts.Warmup; i++ {
		mlp.step()
		mlp.gemms()
		hand.step()
		conv.step()
	}
	rounds := make([]engineRound, 0, opts.Rounds)
	for r := 0; r < opts.Rounds; r++ {
		rounds = append(rounds, engineRound{step: timeOn(be, opts.Iters, mlp.step), gemm: timeOn(be, opts.Iters, mlp.gemms),
			hand: timeOn(be, opts.Iters, hand.step), conv: timeOn(be, opts.Iters, conv.step)})
		if opts.Progress != nil {
			opts.Progress(r+1, opts.Rounds)
		}
	}
	res := engineResult(rounds)
	res.Backend, res.Kernels, res.GOMAXPROCS = be.Name(), tensor.KernelsName(), runtime.GOMAXPROCS(0)
	res.Iters, res.Batch = opts.Iters, opts.Batch
	res.AllocsPerStep, res.BytesPerStep = allocsPer(opts.Iters, mlp.step)
	before := be.Transfers()
	for range opts.Iters {
		mlp.step()
	}
	tr := be.Transfers().Sub(before)
	n := float64(opts.Iters)
	res.HostSyncsPerStep, res.H2DBytesPerStep, res.D2HBytesPerStep = float64(tr.HostSyncs)/n, float64(tr.H2DBytes)/n, float64(tr.D2HBytes)/n
	if err := be.Sync(); err != nil {
		panic(fmt.Sprintf("bench engine: %s failed: %v", be.Name(), err))
	}
	res.GFLOPS = mlp.flops / (res.StepMs * 1e6)
	res.GemmGFLOPS = mlp.flops / (res.GemmMs * 1e6)
	res.ConvGFLOPS = conv.flops / (res.ConvMs * 1e6)
	return res
}

// engineRound is one round's mean milliseconds per call of each timed job,
// measured back to back.
type engineRound struct{ step, gemm, hand, conv float64 }

// engineResult reduces the rounds to median times. Each ratio is the
// quotient of the two medians reported beside it, so the figures agree; the
// per-round ratios are kept to show how much the rounds scatter.
func engineResult(rounds []engineRound) EngineResult {
	var steps, gemms, hands, convs []float64
	res := EngineResult{Rounds: len(rounds)}
	for _, r := range rounds {
		steps, gemms, hands, convs = append(steps, r.step), append(gemms, r.gemm), append(hands, r.hand), append(convs, r.conv)
		res.StepOverGemmRounds = append(res.StepOverGemmRounds, r.step/r.gemm)
		res.StepOverHandwrittenRounds = append(res.StepOverHandwrittenRounds, r.step/r.hand)
	}
	res.StepMs, res.GemmMs, res.HandwrittenMs, res.ConvMs = median(steps), median(gemms), median(hands), median(convs)
	res.StepOverGemm = res.StepMs / res.GemmMs
	res.StepOverHandwritten = res.StepMs / res.HandwrittenMs
	return res
}

// timeIt returns the mean milliseconds per call over n calls (of
// synchronous CPU work).
func timeIt(n int, f func()) float64 {
	start := time.Now()
	for i := 0; i < n; i++ {
		f()
	}
	return float64(time.Since(start).Nanoseconds()) / 1e6 / float64(n)
}

// timeOn is timeIt for work enqueued on be: it waits for be to finish it.
func timeOn(be tensor.Backend, n int, f func()) float64 {
	start := time.Now()
	for i := 0; i < n; i++ {
		f()
	}
	if err := be.Sync(); err != nil {
		panic(fmt.Sprintf("bench engine: %s failed: %v", be.Name(), err))
	}
	return float64(time.Since(start).Nanoseconds()) / 1e6 / float64(n)
}

// allocsPer returns Go heap allocations and bytes per call of f.
func allocsPer(n int, f func()) (allocs, bytes float64) {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	for i := 0; i < n; i++ {
		f()
	}
	runtime.ReadMemStats(&b)
	return float64(b.Mallocs-a.Mallocs) / float64(n), float64(b.TotalAlloc-a.TotalAlloc) / float64(n)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// String formats the result for people. Each ratio is computed from the
// two times exactly as printed (rounded to the microsecond), so a reader
// dividing them gets the same figure.
func (r EngineResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "engine benchmark (%s, kernels %s, GOMAXPROCS=%d, median of %d rounds x %d iterations)\n",
		r.Backend, r.Kernels, r.GOMAXPROCS, r.Rounds, r.Iters)
	fmt.Fprintf(&b, "MLP 784-512-512-1 softplus, batch %d, float32, forward+backward:\n", r.Batch)
	fmt.Fprintf(&b, "  step                %9.3f ms   (%.1f GFLOP/s)\n", r.StepMs, r.GFLOPS)
	fmt.Fprintf(&b, "  GEMMs alone         %9.3f ms   (%.1f GFLOP/s)\n", r.GemmMs, r.GemmGFLOPS)
	fmt.Fprintf(&b, "  hand-written        %9.3f ms\n", r.HandwrittenMs)
	writeRatio(&b, "step / GEMMs", r.StepMs, r.GemmMs, r.StepOverGemmRounds)
	writeRatio(&b, "step / hand-written", r.StepMs, r.HandwrittenMs, r.StepOverHandwrittenRounds)
	fmt.Fprintf(&b, "  allocations         %9.1f per step, %.0f bytes per step\n", r.AllocsPerStep, r.BytesPerStep)
	fmt.Fprintf(&b, "  host syncs          %9.2f per step; bytes to the device %.0f, from it %.0f\n", r.HostSyncsPerStep, r.H2DBytesPerStep, r.D2HBytesPerStep)
	b.WriteString("conv block 64->64 3x3, 32x32, batch 32, forward+backward:\n")
	fmt.Fprintf(&b, "  step                %9.3f ms   (%.1f GFLOP/s)\n", r.ConvMs, r.ConvGFLOPS)
	return b.String()
}

// writeRatio prints num/den from the two times as printed (3 decimals),
// with the range of the per-round ratios.
func writeRatio(b *strings.Builder, name string, num, den float64, rounds []float64) {
	n, d := roundTo(num, 3), roundTo(den, 3)
	fmt.Fprintf(b, "  %-19s %9.2f      (%.3f / %.3f ms", name, n/d, n, d)
	if len(rounds) > 1 {
		fmt.Fprintf(b, "; per round %.2f to %.2f", slices.Min(rounds), slices.Max(rounds))
	}
	b.WriteString(")\n")
}

func roundTo(v float64, decimals int) float64 {
	p := math.Pow10(decimals)
	return math.Round(v*p) / p
}

// mlpBench is the MLP energy step and its GEMMs.
type mlpBench struct {
	be     tensor.Backend
	tp     *autodiff.Tape
	x      *tensor.Tensor
	params []*autodiff.Param
	flops  float64
	// buffers for the GEMM-only timing, shaped like the step's operands
	h1, h2, e, g1, g2, g3, gh1, gh2 *tensor.Tensor
}

func newMLPBench(be tensor.Backend, batch int) *mlpBench {
	rng := tensor.NewRNG(1)
	dims := []int{784, 512, 512, 1}
	m := &mlpBench{be: be, tp: autodiff.NewTape(be)}
	m.x = be.Empty(tensor.Float32, batch, dims[0])
	be.Random(m.x, tensor.Uniform(0, 1), rng)
	for i := 0; i+1 < len(dims); i++ {
		w := be.Empty(tensor.Float32, dims[i+1], dims[i])
		be.Random(w, tensor.Normal(0, 1/float64(dims[i])), rng)
		b := be.Zeros(tensor.Float32, dims[i+1])
		m.params = append(m.params, autodiff.NewParam(fmt.Sprintf("layers.%d.weight", i), w),
			autodiff.NewParam(fmt.Sprintf("layers.%d.bias", i), b))
		// forward GEMM, weight-gradient GEMM, and the input-gradient GEMM
		// for every layer but the first.
		f := 2 * float64(batch*dims[i]*dims[i+1])
		m.flops += 2 * f
		if i > 0 {
			m.flops += f
		}
	}
	z := func(s ...int) *tensor.Tensor { return be.Zeros(tensor.Float32, s...) }
	m.h1, m.h2, m.e = z(batch, 512), z(batch, 512), z(batch, 1)
	m.g1, m.g2, m.g3 = z(512, 784), z(512, 512), z(1, 512)
	m.gh1, m.gh2 = z(batch, 512), z(batch, 512)
	return m
}

func (m *mlpBench) step() {
	tp := m.tp
	p := func(i int) *autodiff.Var { return tp.Param(m.params[i]) }
	h := autodiff.Softplus(autodiff.Linear(tp.Const(m.x), p(0), p(1)))
	h = autodiff.Softplus(autodiff.Linear(h, p(2), p(3)))
	e := autodiff.Sum(autodiff.Linear(h, p(4), p(5)))
	autodiff.Backward(e, m.params)
	tp.Reset()
}

// gemms runs the step's GEMMs with the step's transposes, in its order.
func (m *mlpBench) gemms() {
	be, w := m.be, func(i int) *tensor.Tensor { return m.params[2*i].Value }
	be.Gemm(false, true, 1, m.x, w(0), 0, m.h1)
	be.Gemm(false, true, 1, m.h1, w(1), 0, m.h2)
	be.Gemm(false, true, 1, m.h2, w(2), 0, m.e)
	be.Gemm(true, false, 1, m.e, m.h2, 0, m.g3)   // dW3 = gᵀ h2
	be.Gemm(false, false, 1, m.e, w(2), 0, m.gh2) // dh2 = g W3
	be.Gemm(true, false, 1, m.gh2, m.h1, 0, m.g2) // dW2
	be.Gemm(false, false, 1, m.gh2, w(1), 0, m.gh1)
	be.Gemm(true, false, 1, m.gh1, m.x, 0, m.g1) // dW1
}

// convBench is one conv block step.
type convBench struct {
	tp     *autodiff.Tape
	x      *tensor.Tensor
	params []*autodiff.Param
	flops  float64
}

func newConvBench(be tensor.Backend) *convBench {
	const n, c, hw = 32, 64, 32
	rng := tensor.NewRNG(2)
	cb := &convBench{tp: autodiff.NewTape(be)}
	cb.x = be.Empty(tensor.Float32, n, c, hw, hw)
	be.Random(cb.x, tensor.Normal(0, 1), rng)
	w := be.Empty(tensor.Float32, c, c, 3, 3)
	be.Random(w, tensor.Normal(0, 1.0/(9*c)), rng)
	cb.params = []*autodiff.Param{autodiff.NewParam("conv.weight", w), autodiff.NewParam("conv.bias", be.Zeros(tensor.Float32, c, 1, 1))}
	// forward, input gradient and weight gradient: each 2·N·O·C·9·H·W flops.
	cb.flops = 3 * 2 * float64(n*c*c*9*hw*hw)
	return cb
}

func (cb *convBench) step() {
	tp := cb.tp
	x := tp.Leaf(cb.x)
	y := autodiff.Conv2D(x, tp.Param(cb.params[0]), tensor.Conv(1, 1, 1))
	e := autodiff.Sum(autodiff.Softplus(autodiff.Add(y, tp.Param(cb.params[1]))))
	wrt := []*autodiff.Var{x, tp.Param(cb.params[0]), tp.Param(cb.params[1])}
	autodiff.Grad([]*autodiff.Var{e}, wrt, autodiff.GradOptions{})
	tp.Reset()
}
