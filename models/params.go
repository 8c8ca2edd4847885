package models

import (
	"fmt"
	"math"

	"github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// Builder creates a model's parameters on one backend and dtype, in order,
// with PyTorch's default initialisation drawn from one seeded RNG (so the
// same spec and seed give the same parameters).
type Builder struct {
	be     tensor.Backend
	dt     tensor.DType
	rng    *tensor.RNG
	params []*autodiff.Param
	names  map[string]bool
}

// NewBuilder returns a Builder; seed fixes the initial values.
func NewBuilder(be tensor.Backend, dt tensor.DType, seed uint64) *Builder {
	return &Builder{be: be, dt: dt, rng: tensor.NewRNG(seed), names: map[string]bool{}}
}

// Params returns the parameters created so far, in creation order.
func (b *Builder) Params() []*autodiff.Param { return b.params }

// Backend returns the backend parameters live on.
func (b *Builder) Backend() tensor.Backend { return b.be }

// DType returns the parameters' element type.
func (b *Builder) DType() tensor.DType { return b.dt }

// Param creates a parameter filled from dist. It panics on a duplicate name
// (a bug in a model definition).
func (b *Builder) Param(name string, dist tensor.Distribution, shape ...int) *autodiff.Param {
	if b.names[name] {
		panic(fmt.Sprintf("models: duplicate parameter name %q", name))
	}
	b.names[name] = true
	t := b.be.Empty(b.dt, shape...)
	b.be.Random(t, dist, b.rng)
	p := autodiff.NewParam(name, t)
	b.params = append(b.params, p)
	return p
}

// Const creates a parameter filled with v (for example a scale initialised to 0).
func (b *Builder) Const(name string, v float64, shape ...int) *autodiff.Param {
	if v == 0 {
		return b.Param(name, tensor.Uniform(0, 0), shape...)
	}
	return b.Param(name, tensor.Uniform(v, v), shape...)
}

// fanInUniform is PyTorch's default for Linear and Conv weights and biases:
// kaiming_uniform(a=√5) gives U(-1/√fan_in, 1/√fan_in) for the weight, and
// the bias uses the same bound.
func fanInUniform(fanIn int) tensor.Distribution {
	bound := 1 / math.Sqrt(float64(max(fanIn, 1)))
	return tensor.Uniform(-bound, bound)
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}
