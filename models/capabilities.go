package models

import (
	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// Capabilities: what a model declares, by implementing these, so that the
// trainer and the commands ask what a model can do rather than which kind
// it is.

// BatchFitter is a model that fits part of itself in closed form on each
// training batch before the objective is taken. The fit depends on the
// local batch, so replicas of such a model cannot train data parallel.
type BatchFitter interface {
	Model
	// FitBatch fits on part of x, differentiably (the objective's
	// gradient flows through the fit), and returns the model to evaluate
	// the objective with and the samples to evaluate it on.
	FitBatch(tp *ad.Tape, x *tensor.Tensor) (Model, *tensor.Tensor, error)
	// KeepFit stores the fit in fitted (a model FitBatch returned) for
	// evaluation and checkpoints; the trainer calls it after backward.
	KeepFit(fitted Model)
}

// DataInitializer is a model whose fresh parameters start from training
// samples; a resumed run, or one started from init_from, skips it.
type DataInitializer interface {
	Model
	// InitFromData sets those parameters from the first samples of a
	// dataset of n samples, each read by get into a slice of the input's
	// size.
	InitFromData(n int, get func(i int, dst []float32) error) error
}

// DataProjector is a model of a fixed projection of its data (mlp-score
// with pca: the data's reconstruction from its principal components). The
// trainer and its held-out evaluation take the objective on Project(x)
// instead of x, so the loss measures only what the model can learn;
// `fdsm objective` evaluates the inputs as given.
type DataProjector interface {
	Model
	// Project returns the projection of x [n, InputShape...] as a new
	// tensor owned by tp, on x's backend.
	Project(tp *ad.Tape, x *tensor.Tensor) *tensor.Tensor
}
