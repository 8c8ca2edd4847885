package autodiff

import (
	"fmt"

	"github.com/fdsm-go/fdsm/tensor"
)

// Param is a trainable tensor with a persistent gradient buffer that
// Backward accumulates into and optimizers read. Its memory is not owned by
// any tape.
type Param struct {
	Name  string
	Value *tensor.Tensor
	Grad  *tensor.Tensor // nil until the first Backward, then Value's shape
}

// NewParam returns a parameter holding value.
func NewParam(name string, value *tensor.Tensor) *Param {
	return &Param{Name: name, Value: value}
}

// Backward adds d(output)/dp into p.Grad for every parameter (a seed of ones
// for a non-scalar output). Parameters the output does not depend on are
// left unchanged. The backward pass runs without recording.
func Backward(output *Var, params []*Param) {
	BackwardSeed(output, nil, params)
}

// BackwardSeed is Backward with an explicit output cotangent (nil means ones).
func BackwardSeed(output, seed *Var, params []*Param) {
	tp := tapeOf(output)
	wrt := make([]*Var, 0, len(params))
	used := make([]*Param, 0, len(params))
	for _, p := range params {
		if v, ok := tp.params[p]; ok {
			wrt = append(wrt, v)
			used = append(used, p)
		}
	}
	if len(wrt) == 0 {
		return
	}
	gs := Grad([]*Var{output}, wrt, GradOptions{Seeds: []*Var{seed}})
	be := tp.be
	for i, p := range used {
		g := gs[i].value
		if p.Grad == nil {
			p.Grad = be.Zeros(p.Value.DType(), p.Value.Shape()...)
		}
		if !p.Grad.Shape().Equal(p.Value.Shape()) {
			panic(fmt.Sprintf("autodiff: gradient buffer of %s is %v, value %v", p.Name, p.Grad.Shape(), p.Value.Shape()))
		}
		be.Binary(tensor.OpAdd, p.Grad, p.Grad, g)
	}
}

// ZeroGrad sets every parameter's gradient buffer to zero.
func ZeroGrad(params []*Param) {
	for _, p := range params {
		if p.Grad != nil {
			p.Grad.Backend().Fill(p.Grad, 0)
		}
	}
}
