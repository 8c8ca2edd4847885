// Package autodiff is fdsm's reverse-mode automatic differentiation: a
// define-by-run tape of tensor operations whose derivative rules are written
// with the same operations, so gradients can be differentiated again to any
// order (score matching needs up to third order).
//
// No gradient state lives on a Var between calls: Grad keeps its cotangents
// in scratch space of its own, so repeated and nested calls on one graph are
// independent.
//
// Threading: a Tape and its Vars belong to one goroutine at a time. Separate
// tapes may run concurrently, also on one backend.
package autodiff

import (
	"fmt"

	"github.com/fdsm-go/fdsm/tensor"
)

// Tape records the operations of one computation (typically one training
// step) and owns the tensors they produce. Reset releases those tensors to
// the backend's pool and invalidates every Var of the tape, so a steady-state
// step reuses the same memory.
type Tape struct {
	be        tensor.Backend
	gen       uint32
	recording bool
	nodes     []*Var // tracked Vars in creation order (a topological order)
	owned     []*tensor.Tensor
	slab      [][]Var
	slabUsed  int
	params    map[*Param]*Var
	leaves    map[*tensor.Tensor]*Var // first Leaf of each tensor
	scratch   *gradScratch
}

// NewTape returns an empty tape recording operations on backend be.
func NewTape(be tensor.Backend) *Tape {
	return &Tape{be: be, gen: 1, recording: true, params: make(map[*Param]*Var), leaves: make(map[*tensor.Tensor]*Var)}
}

// Backend returns the backend the tape computes with.
func (tp *Tape) Backend() tensor.Backend { return tp.be }

// Reset releases every tensor the tape's operations allocated and forgets
// all recorded operations. Vars of the tape must not be used afterwards: any
// use panics. Tensors passed to Leaf, Const or Param are not released.
func (tp *Tape) Reset() {
	for i, t := range tp.owned {
		t.Backend().Release(t)
		tp.owned[i] = nil
	}
	tp.owned = tp.owned[:0]
	clear(tp.nodes)
	tp.nodes = tp.nodes[:0]
	clear(tp.params)
	clear(tp.leaves)
	for _, s := range tp.slab {
		clear(s)
	}
	tp.slabUsed = 0
	tp.gen++
	tp.recording = true
}

// Len returns the number of recorded operations and leaves.
func (tp *Tape) Len() int { return len(tp.nodes) }

// Recording reports whether new operations are recorded for differentiation.
func (tp *Tape) Recording() bool { return tp.recording }

// NoGrad runs fn with recording off: operations compute values only, as
// in evaluation, and their results are constants.
func (tp *Tape) NoGrad(fn func()) {
	old := tp.recording
	tp.recording = false
	defer func() { tp.recording = old }()
	fn()
}

// Var is a value on a tape: a tensor plus, when it depends on something
// being differentiated, the operation that made it.
type Var struct {
	tape   *Tape
	gen    uint32
	id     int32 // index in tape.nodes; -1 when untracked (a constant)
	value  *tensor.Tensor
	op     Op
	inputs []*Var
}

// Value returns the tensor. It is released by Tape.Reset unless it was
// given to Leaf, Const or Param.
func (v *Var) Value() *tensor.Tensor { v.check(); return v.value }

// Shape returns the shape of the value.
func (v *Var) Shape() tensor.Shape { v.check(); return v.value.Shape() }

// DType returns the element type.
func (v *Var) DType() tensor.DType { v.check(); return v.value.DType() }

// Tape returns the tape the Var belongs to.
func (v *Var) Tape() *Tape { return v.tape }

// Tracked reports whether gradients can flow to or through v.
func (v *Var) Tracked() bool { v.check(); return v.id >= 0 }

// Item returns the value of a one-element Var.
func (v *Var) Item() float64 { v.check(); return v.value.Item() }

func (v *Var) String() string {
	if v.op != nil {
		return fmt.Sprintf("Var(%s %v %s)", v.value.DType(), v.value.Shape(), v.op.Name())
	}
	return fmt.Sprintf("Var(%s %v)", v.value.DType(), v.value.Shape())
}

func (v *Var) check() {
	if v == nil {
		panic("autodiff: nil Var")
	}
	if v.gen != v.tape.gen {
		panic("autodiff: Var used after its Tape was Reset")
	}
}

func (tp *Tape) newVar() *Var {
	const chunk = 256
	k, i := tp.slabUsed/chunk, tp.slabUsed%chunk
	if k == len(tp.slab) {
		tp.slab = append(tp.slab, make([]Var, chunk))
	}
	tp.slabUsed++
	v := &tp.slab[k][i]
	v.tape, v.gen, v.id = tp, tp.gen, -1
	return v
}

func (tp *Tape) track(v *Var) {
	v.id = int32(len(tp.nodes))
	tp.nodes = append(tp.nodes, v)
}

// Leaf wraps t as an input to differentiate with respect to. The tape does
// not take ownership of t. A parameter whose value is t uses this leaf too
// (see Param), so gradients with respect to a model's parameter tensors can
// be taken by wrapping them first, as CheckGrad does.
func (tp *Tape) Leaf(t *tensor.Tensor) *Var {
	v := tp.newVar()
	v.value = t
	tp.track(v)
	if _, ok := tp.leaves[t]; !ok {
		tp.leaves[t] = v
	}
	return v
}

// Const wraps t as a constant: no gradient flows to it. The tape does not
// take ownership of t.
func (tp *Tape) Const(t *tensor.Tensor) *Var {
	v := tp.newVar()
	v.value = t
	return v
}

// Owned wraps t as a constant and releases t at Reset.
func (tp *Tape) Owned(t *tensor.Tensor) *Var {
	tp.owned = append(tp.owned, t)
	return tp.Const(t)
}

// Param returns the leaf Var of parameter p on this tape, creating it on
// first use, so every use of p in a step shares one node. If p's value
// tensor was already wrapped by Leaf on this tape, that leaf is used.
func (tp *Tape) Param(p *Param) *Var {
	if v, ok := tp.params[p]; ok {
		return v
	}
	v, ok := tp.leaves[p.Value]
	if !ok {
		v = tp.Leaf(p.Value)
	}
	tp.params[p] = v
	return v
}

// alloc returns a tensor on be owned by the tape.
func (tp *Tape) alloc(be tensor.Backend, dt tensor.DType, shape ...int) *tensor.Tensor {
	t := be.Empty(dt, shape...)
	tp.owned = append(tp.owned, t)
	return t
}

func (tp *Tape) allocZeros(be tensor.Backend, dt tensor.DType, shape ...int) *tensor.Tensor {
	t := be.Zeros(dt, shape...)
	tp.owned = append(tp.owned, t)
	return t
}

// deviceOf returns the backend that holds every v's value: an operation
// runs on its inputs' device. Inputs on different devices are an error;
// To moves a Var.
func deviceOf(op string, vs ...*Var) tensor.Backend {
	var be tensor.Backend
	for _, v := range vs {
		b := v.value.Backend()
		if be == nil {
			be = b
		} else if b != be {
			panic(fmt.Sprintf("autodiff: %s mixes tensors on %s and %s: move one with autodiff.To", op, be.Name(), b.Name()))
		}
	}
	return be
}

// fullOn returns a constant on be of the given shape filled with v.
func (tp *Tape) fullOn(be tensor.Backend, dt tensor.DType, v float64, shape ...int) *Var {
	t := tp.alloc(be, dt, shape...)
	be.Fill(t, v)
	return tp.Const(t)
}

// Full returns a constant of the given shape filled with v, on the tape's
// backend.
func (tp *Tape) Full(dt tensor.DType, v float64, shape ...int) *Var {
	return tp.fullOn(tp.be, dt, v, shape...)
}

// Zeros returns a constant zero tensor.
func (tp *Tape) Zeros(dt tensor.DType, shape ...int) *Var { return tp.Full(dt, 0, shape...) }

// Random returns a constant filled from dist.
func (tp *Tape) Random(dt tensor.DType, dist tensor.Distribution, rng *tensor.RNG, shape ...int) *Var {
	t := tp.alloc(tp.be, dt, shape...)
	tp.be.Random(t, dist, rng)
	return tp.Const(t)
}

// Scalar returns a rank-0 constant.
func (tp *Tape) Scalar(dt tensor.DType, v float64) *Var { return tp.Full(dt, v) }

// record wraps a freshly computed value as the output of op. The result is
// tracked when recording is on and some input is tracked; otherwise it is a
// constant and op is dropped.
func (tp *Tape) record(op Op, value *tensor.Tensor, inputs ...*Var) *Var {
	v := tp.newVar()
	v.value = value
	if !tp.recording {
		return v
	}
	for _, in := range inputs {
		if in.id >= 0 {
			v.op = op
			v.inputs = inputs
			tp.track(v)
			return v
		}
	}
	return v
}

// tapeOf returns the tape shared by vs, panicking on a mix of tapes or a
// stale Var.
func tapeOf(vs ...*Var) *Tape {
	var tp *Tape
	for _, v := range vs {
		v.check()
		if tp == nil {
			tp = v.tape
		} else if v.tape != tp {
			panic("autodiff: Vars from different tapes")
		}
	}
	return tp
}

// Detach returns a constant with v's value: gradients stop there.
func Detach(v *Var) *Var {
	v.check()
	return v.tape.Const(v.value)
}

// Op is one differentiable operation. VJP returns the cotangent of each
// input given the cotangent g of the output out, built only from Var
// operations so that it is itself differentiable. needs[i] reports whether
// input i wants a cotangent; VJP may return nil for it (and for inputs with
// a zero derivative).
type Op interface {
	Name() string
	VJP(g, out *Var, inputs []*Var, needs []bool) []*Var
}
