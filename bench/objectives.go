package bench

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/objective"
	"github.com/fdsm-go/fdsm/tensor"
)

// ObjectivesOptions size the objectives benchmark (paper Table 2).
type ObjectivesOptions struct {
	Backend       tensor.Backend // the device (nil: a fresh CPU backend); its work is counted
	Model         string         // "mlp" (784-512-512, default) or "resnet" (small resnet_ebm)
	Batch         int            // default 64 (the paper's SSM-family batch)
	Rounds, Iters int            // defaults 5 and 3
	Warmup        int            // default 1
	Progress      func(round, rounds int)
}

// ObjectiveResult is one method's figures.
type ObjectiveResult struct {
	Method    string  `json:"method"`
	Model     string  `json:"model"`
	Ms        float64 `json:"ms"`
	PeakBytes int64   `json:"peak_bytes"`
	// MACs are the GEMM and convolution multiply-accumulates of one step,
	// Elementwise the elements of its elementwise and reduction work
	// (tensor.Counting): the work, which no engine can skip.
	MACs        int64 `json:"macs"`
	Elementwise int64 `json:"elementwise"`
	// GFLOPS is 2·MACs over the step time: how close a method runs to the
	// machine's GEMM speed.
	GFLOPS float64 `json:"gflops"`
}

// ObjectivesResult is the objectives benchmark.
type ObjectivesResult struct {
	Backend    string             `json:"backend"`
	GOMAXPROCS int                `json:"gomaxprocs"`
	Batch      int                `json:"batch"`
	Results    []ObjectiveResult  `json:"results"`
	Speedup    map[string]float64 `json:"speedup"`
	// MACRatio is the baseline's MACs over the FD method's, per pair: the
	// speedup an engine whose steps are all GEMM time would measure.
	MACRatio map[string]float64 `json:"mac_ratio"`
	// PeakRatio is FD-SSM's peak bytes over SSM's (target <= 0.75).
	PeakRatio float64 `json:"fd_ssm_peak_over_ssm"`
}

type objCase struct {
	method string
	model  models.Model
	obj    objective.Objective
	batch  objective.Batch
	tp     *autodiff.Tape
	// What was measured: one step's peak bytes and work, the rounds' times.
	peak   int64
	counts tensor.OpCounts
	times  []float64
}

// Objectives times one training step (loss and backward into the
// parameters' gradients) per method, float32, all methods side by side in
// every round: SSM, FD-SSM, DSM, FD-DSM on the energy model and SSM-VR,
// FD-SSMVR on a small NCSN score network. Peak bytes are the engine pool's
// high-water mark during a step above what it held before.
func Objectives(opts ObjectivesOptions) (ObjectivesResult, error) {
	opts = opts.withDefaults()
	dev := opts.Backend
	if dev == nil {
		dev = tensor.NewCPU()
	}
	be := tensor.NewCounting(dev)
	em, sm, err := objectiveModels(be, opts.Model)
	if err != nil {
		return ObjectivesResult{}, err
	}
	rng := tensor.NewRNG(3)
	cases, err := objectiveCases(be, rng, em, sm, opts.Batch)
	if err != nil {
		return ObjectivesResult{}, err
	}
	if err := measureObjectives(be, rng, cases, opts.Warmup); err != nil {
		return ObjectivesResult{}, err
	}
	for r := 0; r < opts.Rounds; r++ {
		for _, c := range cases {
			c.times = append(c.times, timeOn(be, opts.Iters, func() { _ = c.step(rng) }))
		}
		if opts.Progress != nil {
			opts.Progress(r+1, opts.Rounds)
		}
	}
	return objectivesResult(be, opts, cases, sm), nil
}

// withDefaults fills the unset fields (empty, or sizes <= 0) with the defaults.
func (opts ObjectivesOptions) withDefaults() ObjectivesOptions {
	if opts.Model == "" {
		opts.Model = "mlp"
	}
	if opts.Batch <= 0 {
		opts.Batch = 64
	}
	if opts.Rounds <= 0 {
		opts.Rounds = 5
	}
	if opts.Iters <= 0 {
		opts.Iters = 3
	}
	if opts.Warmup <= 0 {
		opts.Warmup = 1
	}
	return opts
}

// objectiveModels builds the energy model named by model and the small NCSN
// score network.
func objectiveModels(be tensor.Backend, model string) (em, sm models.Model, err error) {
	var energy models.Spec
	switch model {
	case "mlp":
		energy = models.Spec{Kind: "mlp", Options: map[string]any{}}
	case "resnet":
		energy = models.Spec{Kind: "resnet_ebm", Options: map[string]any{"n_chan": 8, "activation": "shifted_softplus"}}
	default:
		return nil, nil, fmt.Errorf("unknown model %q (valid: mlp, resnet)", model)
	}
	em, err = models.Build(energy, be, tensor.Float32, 1)
	if err != nil {
		return nil, nil, err
	}
	sm, err = models.Build(models.Spec{Kind: "ncsn", Options: map[string]any{"ngf": 8, "image_size": 16}}, be, tensor.Float32, 1)
	if err != nil {
		return nil, nil, err
	}
	return em, sm, nil
}

// objectiveCases returns the methods to time: the energy model's on a batch
// of batch inputs, the score network's on a quarter of that.
func objectiveCases(be tensor.Backend, rng *tensor.RNG, em, sm models.Model, batch int) ([]*objCase, error) {
	eb, sb := uniformBatch(be, rng, em, batch), uniformBatch(be, rng, sm, batch/4)
	// The paper's settings: ε = 0.05 for images (sphere noise), σ = 0.1.
	o := objective.Options{Eps: 0.05, Sigma: 0.1}
	groups := []struct {
		model   models.Model
		batch   objective.Batch
		methods []string
	}{{em, eb, []string{"ssm", "fd-ssm", "dsm", "fd-dsm"}}, {sm, sb, []string{"ssmvr", "fd-ssmvr"}}}
	var cases []*objCase
	for _, g := range groups {
		for _, method := range g.methods {
			obj, err := objective.New(method, o)
			if err != nil {
				return nil, err
			}
			cases = append(cases, &objCase{method: method, model: g.model, obj: obj, batch: g.batch, tp: autodiff.NewTape(be)})
		}
	}
	return cases, nil
}

// uniformBatch returns n inputs of m drawn from U[0, 1).
func uniformBatch(be tensor.Backend, rng *tensor.RNG, m models.Model, n int) objective.Batch {
	x := be.Empty(tensor.Float32, append([]int{n}, m.InputShape()...)...)
	be.Random(x, tensor.Uniform(0, 1), rng)
	return objective.Batch{X: x}
}

// step is one training step: the loss and its backward pass into the
// parameters' gradients.
func (c *objCase) step(rng *tensor.RNG) error {
	r, err := c.obj.Eval(c.tp, c.model, c.batch, rng)
	if err != nil {
		return err
	}
	autodiff.Backward(r.Loss, c.model.Params())
	c.tp.Reset()
	return nil
}

// measureObjectives warms each case up, then records the peak bytes and
// the work of one more step.
func measureObjectives(be *tensor.Counting, rng *tensor.RNG, cases []*objCase, warmup int) error {
	for _, c := range cases {
		for w := 0; w < warmup; w++ {
			if err := c.step(rng); err != nil {
				return fmt.Errorf("%s: %w", c.method, err)
			}
		}
		be.ResetPeak()
		base := be.MemStats().InUseBytes
		before := be.Counts()
		if err := c.step(rng); err != nil {
			return err
		}
		c.peak = be.MemStats().PeakBytes - base
		c.counts = be.Counts().Sub(before)
	}
	return nil
}

// objectivesResult summarizes the measured cases: each method's figures and
// the FD methods' ratios to their baselines.
func objectivesResult(be tensor.Backend, opts ObjectivesOptions, cases []*objCase, sm models.Model) ObjectivesResult {
	res := ObjectivesResult{Backend: be.Name(), GOMAXPROCS: runtime.GOMAXPROCS(0), Batch: opts.Batch, Speedup: map[string]float64{}, MACRatio: map[string]float64{}}
	ms := map[string]float64{}
	peak := map[string]int64{}
	macs := map[string]int64{}
	for _, c := range cases {
		model := opts.Model
		if c.model == sm {
			model = "ncsn"
		}
		m := median(c.times)
		ms[c.method], peak[c.method], macs[c.method] = m, c.peak, c.counts.MACs
		res.Results = append(res.Results, ObjectiveResult{Method: c.method, Model: model, Ms: m, PeakBytes: c.peak,
			MACs: c.counts.MACs, Elementwise: c.counts.Elementwise, GFLOPS: float64(c.counts.FLOPs()) / (m * 1e6)})
	}
	for _, pair := range [][2]string{{"fd-ssm", "ssm"}, {"fd-dsm", "dsm"}, {"fd-ssmvr", "ssmvr"}} {
		res.Speedup[pair[0]+"/"+pair[1]] = ms[pair[1]] / ms[pair[0]]
		res.MACRatio[pair[0]+"/"+pair[1]] = float64(macs[pair[1]]) / float64(macs[pair[0]])
	}
	res.PeakRatio = float64(peak["fd-ssm"]) / float64(peak["ssm"])
	return res
}

// String formats the result as a table.
func (r ObjectivesResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "objectives benchmark (%s, GOMAXPROCS=%d, batch %d, float32; loss + backward per step, medians)\n", r.Backend, r.GOMAXPROCS, r.Batch)
	fmt.Fprintf(&b, "%-10s %-8s %10s %10s %10s %12s %8s\n", "method", "model", "ms/step", "peak MiB", "GMAC", "M elemwise", "GFLOP/s")
	for _, x := range r.Results {
		fmt.Fprintf(&b, "%-10s %-8s %10.2f %10.1f %10.3f %12.1f %8.1f\n", x.Method, x.Model, x.Ms, float64(x.PeakBytes)/(1<<20),
			float64(x.MACs)/1e9, float64(x.Elementwise)/1e6, x.GFLOPS)
	}
	for _, k := range []string{"fd-ssm/ssm", "fd-dsm/dsm", "fd-ssmvr/ssmvr"} {
		fmt.Fprintf(&b, "%-15s speedup %.2fx (MAC ratio %.2fx)\n", k, r.Speedup[k], r.MACRatio[k])
	}
	fmt.Fprintf(&b, "fd-ssm peak / ssm peak %.2f\n", r.PeakRatio)
	return b.String()
}
