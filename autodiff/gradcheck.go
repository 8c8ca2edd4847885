package autodiff

import (
	"fmt"
	"math"

	"github.com/fdsm-go/fdsm/tensor"
)

// CheckOptions tune CheckGrad. Zero values take the defaults.
type CheckOptions struct {
	// Step is the central-difference step h (default 1e-5). The difference
	// quotient errs by about h²|f'''|/6 plus rounding of about 1e-16|f|/h,
	// both near 1e-10 relative for well-scaled float64 functions at 1e-5.
	Step float64
	// RelTol and AbsTol accept |analytic - numeric| <= AbsTol + RelTol *
	// max(|analytic|, |numeric|). Defaults 1e-6 and 1e-8: four orders above
	// the difference quotient's own error, so a pass is meaningful and a
	// wrong derivative rule (error O(1)) cannot pass.
	RelTol, AbsTol float64
	// Names, if set, name the inputs in error messages.
	Names []string
}

func (o CheckOptions) withDefaults() CheckOptions {
	if o.Step == 0 {
		o.Step = 1e-5
	}
	if o.RelTol == 0 {
		o.RelTol = 1e-6
	}
	if o.AbsTol == 0 {
		o.AbsTol = 1e-8
	}
	return o
}

// CheckGrad checks Grad against float64 central differences. f builds a
// computation from leaves holding xs (float64 tensors) and returns a Var
// whose elements are summed into the scalar being differentiated; f may call
// Grad itself (with CreateGraph), so derivatives of any order are checked
// this way. f must be deterministic. CheckGrad returns nil, or an error
// naming the worst element.
func CheckGrad(be tensor.Backend, f func(xs []*Var) *Var, xs []*tensor.Tensor, opts CheckOptions) error {
	opts = opts.withDefaults()
	for i, x := range xs {
		if x.DType() != tensor.Float64 {
			return fmt.Errorf("gradcheck: input %d is %s; central differences need float64", i, x.DType())
		}
	}
	tp := NewTape(be)
	leaves := make([]*Var, len(xs))
	for i, x := range xs {
		leaves[i] = tp.Leaf(x)
	}
	out := f(leaves)
	grads := Grad([]*Var{out}, leaves, GradOptions{})
	analytic := make([][]float64, len(xs))
	for i, g := range grads {
		analytic[i] = g.Value().ToFloat64s()
	}
	tp.Reset()

	eval := func() float64 {
		defer tp.Reset()
		ls := make([]*Var, len(xs))
		for i, x := range xs {
			ls[i] = tp.Leaf(x)
		}
		s := 0.0
		for _, v := range f(ls).Value().ToFloat64s() {
			s += v
		}
		return s
	}
	worst, wi, wj, wa, wn := -1.0, 0, 0, 0.0, 0.0
	for i, x := range xs {
		num := NumericGrad(eval, x, opts.Step)
		for j, a := range analytic[i] {
			n := num[j]
			excess := math.Abs(a-n) - (opts.AbsTol + opts.RelTol*math.Max(math.Abs(a), math.Abs(n)))
			if math.IsNaN(a) || math.IsNaN(n) {
				excess = math.Inf(1)
			}
			if excess > worst {
				worst, wi, wj, wa, wn = excess, i, j, a, n
			}
		}
	}
	if worst > 0 {
		name := fmt.Sprintf("input %d", wi)
		if wi < len(opts.Names) {
			name = opts.Names[wi]
		}
		return fmt.Errorf("gradcheck: %s element %d: analytic %.10g, numeric %.10g (|diff| %.3g)", name, wj, wa, wn, math.Abs(wa-wn))
	}
	return nil
}

// CheckParamGrad is CheckGrad with respect to parameters (float64): f builds
// its computation on the tape it is given, reading parameters through
// Tape.Param as models do, and returns a Var whose elements are summed. It
// panics if params is empty.
func CheckParamGrad(be tensor.Backend, f func(tp *Tape) *Var, params []*Param, opts CheckOptions) error {
	if len(params) == 0 {
		panic("autodiff: CheckParamGrad with no parameters")
	}
	xs := make([]*tensor.Tensor, len(params))
	opts.Names = make([]string, len(params))
	for i, p := range params {
		xs[i], opts.Names[i] = p.Value, p.Name
	}
	return CheckGrad(be, func(vs []*Var) *Var { return f(vs[0].Tape()) }, xs, opts)
}

// NumericGrad returns the central differences (eval(x+h e_j) -
// eval(x-h e_j)) / 2h for every element j of the float64 tensor x,
// restoring x afterwards. A host tensor is perturbed in place; a device
// tensor through typed writes of the whole perturbed vector.
func NumericGrad(eval func() float64, x *tensor.Tensor, h float64) []float64 {
	var d []float64
	set := func() {} // makes the device copy follow d
	if x.IsHost() {
		d = x.Float64s()
	} else {
		d = x.ToFloat64s()
		set = func() { x.Backend().WriteFloat64s(x, d) }
	}
	out := make([]float64, len(d))
	for j := range d {
		orig := d[j]
		d[j] = orig + h
		set()
		fp := eval()
		d[j] = orig - h
		set()
		fm := eval()
		d[j] = orig
		set()
		out[j] = (fp - fm) / (2 * h)
	}
	return out
}
