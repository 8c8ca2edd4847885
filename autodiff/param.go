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
	backward(output, seed, params, nil)
}

// BackwardReady is Backward that calls onReady(p) as soon as p.Grad holds
// its final value for this call, while the backward pass still runs over
// earlier layers: data-parallel training starts reducing those gradients
// then. Every parameter is reported exactly once, in completion order
// (roughly reverse order of use); parameters the output does not depend on
// are reported at the end, unchanged. onReady runs on the calling goroutine
// and must not touch the tape; it may hand p.Grad to another goroutine that
// only reads it until the next Backward or ZeroGrad.
func BackwardReady(output *Var, params []*Param, onReady func(*Param)) {
	backward(output, nil, params, onReady)
}

func backward(output, seed *Var, params []*Param, onReady func(*Param)) {
	tp := tapeOf(output)
	wrt := make([]*Var, 0, len(params))
	used := make([]*Param, 0, len(params))
	var unused []*Param
	for _, p := range params {
		if v, ok := tp.params[p]; ok {
			wrt = append(wrt, v)
			used = append(used, p)
		} else {
			unused = append(unused, p)
		}
	}
	// A gradient lives on its parameter's device.
	addInto := func(p *Param, g *tensor.Tensor) {
		be := p.Value.Backend()
		if p.Grad == nil {
			p.Grad = be.Zeros(p.Value.DType(), p.Value.Shape()...)
		}
		if !p.Grad.Shape().Equal(p.Value.Shape()) {
			panic(fmt.Sprintf("autodiff: gradient buffer of %s is %v, value %v", p.Name, p.Grad.Shape(), p.Value.Shape()))
		}
		be.Binary(tensor.OpAdd, p.Grad, p.Grad, g)
	}
	if len(wrt) > 0 {
		opts := GradOptions{Seeds: []*Var{seed}}
		if onReady != nil {
			opts.OnReady = func(j int, g *Var) {
				addInto(used[j], g.value)
				onReady(used[j])
			}
		}
		gs := Grad([]*Var{output}, wrt, opts)
		if onReady == nil {
			for i, p := range used {
				addInto(p, gs[i].value)
			}
		}
	}
	if onReady != nil {
		for _, p := range unused {
			if p.Grad == nil {
				p.Grad = p.Value.Backend().Zeros(p.Value.DType(), p.Value.Shape()...)
			}
			onReady(p)
		}
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
