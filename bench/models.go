package bench

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// ModelCase is one model of the models benchmark: a spec at a CPU size and
// the batch size the paper trained it with.
type ModelCase struct {
	Name  string
	Spec  models.Spec
	Batch int
}

// DefaultModelCases are small CPU configurations of every model kind at the
// paper's batch sizes (paper-code-facts.md §3).
func DefaultModelCases() []ModelCase {
	o := func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	return []ModelCase{
		{"mlp 784-512-512", models.Spec{Kind: "mlp", Options: o()}, 128},
		{"resnet_ebm n_chan=16 1x32x32", models.Spec{Kind: "resnet_ebm", Options: o("n_chan", 16)}, 64},
		{"dkef d=11 M=200", models.Spec{Kind: "dkef", Options: o("input_dim", 11)}, 100},
		{"nice 784 (full size)", models.Spec{Kind: "nice", Options: o()}, 128},
		{"ncsn ngf=16 3x32x32", models.Spec{Kind: "ncsn", Options: o("ngf", 16)}, 128},
	}
}

// ModelsOptions size the models benchmark.
type ModelsOptions struct {
	Backend               tensor.Backend // the device (nil: a fresh CPU backend)
	Rounds, Iters, Warmup int
	DType                 tensor.DType
	Cases                 []ModelCase // default DefaultModelCases
	Progress              func(name string)
}

// ModelResult is one model's figures.
type ModelResult struct {
	Name       string  `json:"name"`
	Kind       string  `json:"kind"`
	Batch      int     `json:"batch"`
	Params     int     `json:"params"`
	ForwardMs  float64 `json:"forward_ms"`
	StepMs     float64 `json:"forward_backward_ms"`
	SamplesSec float64 `json:"samples_per_sec"`
	Error      string  `json:"error,omitempty"`
}

// ModelsResult is the models benchmark.
type ModelsResult struct {
	Backend    string        `json:"backend"`
	GOMAXPROCS int           `json:"gomaxprocs"`
	DType      string        `json:"dtype"`
	Rounds     int           `json:"rounds"`
	Iters      int           `json:"iters_per_round"`
	Models     []ModelResult `json:"models"`
}

// Models times forward (no grad) and forward + backward (summed output with
// respect to every parameter) for each case; medians over rounds.
func Models(opts ModelsOptions) ModelsResult {
	if opts.Rounds <= 0 {
		opts.Rounds = 5
	}
	if opts.Iters <= 0 {
		opts.Iters = 3
	}
	if opts.Warmup <= 0 {
		opts.Warmup = 1
	}
	if opts.DType == 0 {
		opts.DType = tensor.Float32
	}
	if opts.Cases == nil {
		opts.Cases = DefaultModelCases()
	}
	be := opts.Backend
	if be == nil {
		be = tensor.NewCPU()
	}
	res := ModelsResult{Backend: be.Name(), GOMAXPROCS: runtime.GOMAXPROCS(0), DType: opts.DType.String(), Rounds: opts.Rounds, Iters: opts.Iters}
	for _, c := range opts.Cases {
		if opts.Progress != nil {
			opts.Progress(c.Name)
		}
		res.Models = append(res.Models, benchModel(be, c, opts))
		if t, ok := be.(interface{ Trim() }); ok {
			t.Trim() // the CPU frees its pool between models
		}
	}
	return res
}

func benchModel(be tensor.Backend, c ModelCase, opts ModelsOptions) ModelResult {
	r := ModelResult{Name: c.Name, Kind: c.Spec.Kind, Batch: c.Batch}
	m, err := models.Build(c.Spec, be, opts.DType, 1)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Params = models.NumParams(m)
	shape := append([]int{c.Batch}, m.InputShape()...)
	x := be.Empty(opts.DType, shape...)
	be.Random(x, tensor.Uniform(0, 1), tensor.NewRNG(2))
	out := outputOf(m, c.Batch)
	tp := autodiff.NewTape(be)
	fwd := func() {
		tp.NoGrad(func() { out(tp.Const(x)) })
		tp.Reset()
	}
	step := func() {
		autodiff.Backward(autodiff.Sum(out(tp.Const(x))), m.Params())
		tp.Reset()
	}
	for i := 0; i < opts.Warmup; i++ {
		fwd()
		step()
	}
	var fs, ss []float64
	for i := 0; i < opts.Rounds; i++ {
		fs = append(fs, timeOn(be, opts.Iters, fwd))
		ss = append(ss, timeOn(be, opts.Iters, step))
	}
	r.ForwardMs, r.StepMs = median(fs), median(ss)
	r.SamplesSec = float64(c.Batch) / (r.StepMs / 1e3)
	return r
}

// outputOf returns the model's per-sample output: log p~ for energies, the
// score for score networks (at noise levels cycling through all levels).
func outputOf(m models.Model, batch int) func(x *autodiff.Var) *autodiff.Var {
	switch mm := m.(type) {
	case models.Energy:
		return mm.LogDensity
	case models.Score:
		levels := make([]int, batch)
		for i := range levels {
			levels[i] = i % mm.Levels()
		}
		return func(x *autodiff.Var) *autodiff.Var {
			return mm.Score(x, models.OneHot(x.Tape(), x.DType(), levels, mm.Levels()))
		}
	}
	panic(fmt.Sprintf("bench: model %T is neither an energy nor a score", m))
}

// String formats the result as a table.
func (r ModelsResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "models benchmark (%s, %s, GOMAXPROCS=%d, median of %d rounds x %d iterations)\n", r.Backend, r.DType, r.GOMAXPROCS, r.Rounds, r.Iters)
	fmt.Fprintf(&b, "%-30s %6s %12s %12s %14s %12s\n", "model", "batch", "params", "forward ms", "fwd+bwd ms", "samples/s")
	for _, m := range r.Models {
		if m.Error != "" {
			fmt.Fprintf(&b, "%-30s %6d  error: %s\n", m.Name, m.Batch, m.Error)
			continue
		}
		fmt.Fprintf(&b, "%-30s %6d %12d %12.2f %14.2f %12.1f\n", m.Name, m.Batch, m.Params, m.ForwardMs, m.StepMs, m.SamplesSec)
	}
	return b.String()
}
