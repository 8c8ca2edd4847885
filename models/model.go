// Package models holds the paper's models (MLP energy, deep ResNet EBM,
// DKEF, NICE, NCSN score network) and the layers they are made of, built on
// the autodiff engine. Parameters carry PyTorch's state_dict names and
// layouts, so checkpoints load into equivalent PyTorch modules.
//
// A model is built from a Spec by Build. Its forward methods take an input
// Var and record on that Var's tape; parameters enter the tape through
// Tape.Param, once per step. Models hold no per-step state, so one model may
// serve several tapes, one per goroutine.
package models

import (
	"github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// Model is what every model offers.
type Model interface {
	// Spec returns the spec the model was built from, defaults filled in.
	Spec() Spec
	// Params returns the parameters in a fixed order with unique
	// PyTorch-style names ("layers.0.weight").
	Params() []*autodiff.Param
	// InputShape is the shape of one sample, e.g. [1 32 32] or [784].
	InputShape() []int
	// DType is the element type of the parameters.
	DType() tensor.DType
}

// Energy is a model of an unnormalised log-density log p~(x) = -E(x).
type Energy interface {
	Model
	// LogDensity returns log p~ for each sample of x [n, InputShape...], shape [n].
	LogDensity(x *autodiff.Var) *autodiff.Var
}

// Score is a noise-conditional score network s(x, σ_i) ≈ ∇x log p_σi(x).
type Score interface {
	Model
	// Levels returns the number of noise levels the network is conditioned on.
	Levels() int
	// Score returns the score for each sample of x [n, InputShape...] at
	// the noise levels y, a one-hot [n, Levels()] on x's tape (OneHot builds
	// one from level indices on the host; the objectives draw theirs on the
	// device); the result has x's shape. It panics if y is not [n, Levels()].
	Score(x, y *autodiff.Var) *autodiff.Var
}

// Flow is an Energy whose log-density is normalised and which can be
// inverted for sampling.
type Flow interface {
	Energy
	// Forward maps data x to the latent z = f(x).
	Forward(x *autodiff.Var) *autodiff.Var
	// Inverse maps latents z back to data x = f⁻¹(z).
	Inverse(z *autodiff.Var) *autodiff.Var
}

// NumParams returns the number of scalar parameters of m.
func NumParams(m Model) int {
	n := 0
	for _, p := range m.Params() {
		n += p.Value.Numel()
	}
	return n
}
