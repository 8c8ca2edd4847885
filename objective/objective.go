// Package objective holds every training objective of the paper behind one
// interface: the exact score-matching family (SM, SSM, SSM-VR, DSM,
// multiscale and annealed DSM), MLE, the NICE baselines (Approx BP,
// curvature propagation), and the finite-difference forms (FD-SSM, FD-DSM,
// FD-SSMVR, FD-SSM with any stencil).
//
// Every objective returns per-sample raw terms (the bracket inside the
// paper's expectation, documented per objective) and the loss: their mean
// times the objective's scale. The default scale is the paper's equation;
// Options.Scaling selects the reference code's scaling where it differs, so
// numbers can be compared with it.
package objective

import (
	"fmt"
	"sort"
	"strings"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/fdpar"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// Batch is the input of one evaluation. Randomness an objective needs and
// the batch does not carry (V, Noise) is drawn from the RNG given to Eval;
// given tensors are used as they are (no rescaling), which makes
// evaluations reproducible and comparable across objectives.
type Batch struct {
	X *tensor.Tensor // data [n, ...]
	// V are the projection directions, one per sample, shape of X. For the
	// FD objectives ‖v‖ is the finite-difference step ε.
	V *tensor.Tensor
	// Noise is standard normal noise n, shape of X: x~ = x + σ n.
	Noise *tensor.Tensor
	// Sigmas are per-sample noise scales (multiscale DSM); nil means the
	// objective's own (Options.Sigma, or its schedule).
	Sigmas []float64
	// Levels are noise-level indices per sample for score networks; nil
	// means drawn uniformly.
	Levels []int
}

// Result is an objective evaluated on a batch.
type Result struct {
	Loss      *ad.Var // scalar
	PerSample *ad.Var // [n] raw terms
}

// Objective is one training objective.
type Objective interface {
	// Name is the objective's name as New accepts it.
	Name() string
	// Eval builds the objective on tp for model m. It returns an error when
	// m is not of the kind the objective needs or the batch lacks an input.
	Eval(tp *ad.Tape, m models.Model, b Batch, rng *tensor.RNG) (Result, error)
}

// Projection is the distribution of the SSM directions v.
type Projection string

// The projection distributions.
const (
	Gaussian   Projection = "gaussian"   // v ~ N(0, I)
	Rademacher Projection = "rademacher" // v ∈ {±1}^d uniformly
	Sphere     Projection = "sphere"     // v uniform on the sphere of radius ε
)

// Scaling selects how the loss is scaled.
type Scaling string

// The scalings.
const (
	// Paper scales each objective as the paper's equations do (default).
	Paper Scaling = "paper"
	// ReferenceEBM is the reference code's scaling for the deep EBM runs.
	ReferenceEBM Scaling = "reference-ebm"
	// ReferenceFlow is the reference code's scaling for the NICE and DKEF runs.
	ReferenceFlow Scaling = "reference-flow"
	// ReferenceNCSN is the reference code's scaling for the NCSN runs.
	ReferenceNCSN Scaling = "reference-ncsn"
)

// Options configure an objective. Zero values take the defaults noted.
type Options struct {
	Eps        float64    // FD step and sphere radius ε; default 0.1
	Sigma      float64    // DSM noise scale σ; default 0.1
	Projection Projection // SSM/SSM-VR directions; default gaussian (FD: always sphere)
	Sequential bool       // FD: one model call per shifted block instead of one batched call
	Scaling    Scaling    // default paper
	// FirstOrder and SecondOrder are the stencils of "fd-ssm-stencil" for
	// vᵀg and vᵀHv (default fdpar.Default(1) and Default(2), Eq. (8)).
	FirstOrder, SecondOrder *fdpar.Stencil
	// MDSM: the per-position noise range (linspace over the batch) and the
	// fixed target scale s0; defaults 0.05, 1.2 and 0.1 as in the reference.
	SigmaMin, SigmaMax, S0 float64
	// SigmaSpacing spaces the MDSM noise levels over the batch: "linear"
	// (default, the reference's linspace) or "geometric" (a constant ratio,
	// as NCSN's levels: equal weight per octave of noise, so more of the
	// batch trains the small noise that sharpens samples).
	SigmaSpacing string
	// Executor runs FD evaluations; default Batched (or Sequential when
	// Sequential is set).
	Executor fdpar.Executor
}

func (o Options) withDefaults() Options {
	if o.Eps == 0 {
		o.Eps = 0.1
	}
	if o.Sigma == 0 {
		o.Sigma = 0.1
	}
	if o.Projection == "" {
		o.Projection = Gaussian
	}
	if o.Scaling == "" {
		o.Scaling = Paper
	}
	if o.SigmaMin == 0 {
		o.SigmaMin = 0.05
	}
	if o.SigmaMax == 0 {
		o.SigmaMax = 1.2
	}
	if o.S0 == 0 {
		o.S0 = 0.1
	}
	if o.FirstOrder == nil {
		st := fdpar.Default(1)
		o.FirstOrder = &st
	}
	if o.SecondOrder == nil {
		st := fdpar.Default(2)
		o.SecondOrder = &st
	}
	if o.Executor == nil {
		if o.Sequential {
			o.Executor = fdpar.Sequential{}
		} else {
			o.Executor = fdpar.Batched{}
		}
	}
	return o
}

var registry = map[string]func(Options) (Objective, error){}

func register(name string, mk func(Options) (Objective, error)) { registry[name] = mk }

// Names lists the objectives New accepts.
func Names() []string {
	ns := make([]string, 0, len(registry))
	for n := range registry {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// New returns the named objective. Unknown names and invalid options are
// errors that say what is valid.
func New(name string, opts Options) (Objective, error) {
	mk, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("unknown objective %q (valid: %s)", name, strings.Join(Names(), ", "))
	}
	opts = opts.withDefaults()
	if opts.Eps <= 0 || opts.Sigma <= 0 {
		return nil, fmt.Errorf("objective %s: eps and sigma must be positive (got %g, %g)", name, opts.Eps, opts.Sigma)
	}
	switch opts.Projection {
	case Gaussian, Rademacher, Sphere:
	default:
		return nil, fmt.Errorf("objective %s: unknown projection %q (valid: gaussian, rademacher, sphere)", name, opts.Projection)
	}
	switch opts.Scaling {
	case Paper, ReferenceEBM, ReferenceFlow, ReferenceNCSN:
	default:
		return nil, fmt.Errorf("objective %s: unknown scaling %q (valid: paper, reference-ebm, reference-flow, reference-ncsn)", name, opts.Scaling)
	}
	switch opts.SigmaSpacing {
	case "", "linear", "geometric":
	default:
		return nil, fmt.Errorf("objective %s: unknown sigma spacing %q (valid: linear, geometric)", name, opts.SigmaSpacing)
	}
	if opts.SigmaMin <= 0 || opts.SigmaMax < opts.SigmaMin {
		return nil, fmt.Errorf("objective %s: want 0 < sigma_min <= sigma_max (got %g, %g)", name, opts.SigmaMin, opts.SigmaMax)
	}
	if opts.FirstOrder.Order != 1 || opts.SecondOrder.Order != 2 {
		return nil, fmt.Errorf("objective %s: stencils must be of order 1 and 2 (got %d and %d)", name, opts.FirstOrder.Order, opts.SecondOrder.Order)
	}
	return mk(opts)
}
