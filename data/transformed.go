package data

import (
	"github.com/fdsm-go/fdsm/tensor"
)

// TransformedSet applies a transform chain to every sample of a dataset, for
// reads outside the loader (evaluation, validation). Sample i's random
// transforms draw from a generator seeded by (seed, i), so a sample reads
// the same every time. Get allocates its scratch per call; the training
// loader is the allocation-free path.
type TransformedSet struct {
	Dataset
	ts    []Transform
	shape []int
	seed  uint64
}

// WithTransforms wraps d; it returns d itself for an empty chain and an
// error when the chain cannot take d's samples.
func WithTransforms(d Dataset, ts []Transform, seed uint64) (Dataset, error) {
	if len(ts) == 0 {
		return d, nil
	}
	shape, err := OutShapeOf(ts, d.Shape())
	if err != nil {
		return nil, err
	}
	return &TransformedSet{Dataset: d, ts: ts, shape: shape, seed: seed}, nil
}

// Shape is the sample shape after the transforms.
func (t *TransformedSet) Shape() []int { return t.shape }

// Get reads sample i and applies the transforms.
func (t *TransformedSet) Get(i int, dst []float32) (int, error) {
	src := make([]float32, Numel(t.Dataset))
	label, err := t.Dataset.Get(i, src)
	if err != nil {
		return 0, err
	}
	shape := t.Dataset.Shape()
	rng := tensor.NewRNG(mixSeeds(t.seed, uint64(i)))
	for _, tr := range t.ts {
		out := tr.OutShape(shape)
		buf := make([]float32, tensor.Shape(out).Numel())
		tr.Apply(buf, src, shape, rng)
		src, shape = buf, out
	}
	copy(dst, src)
	return label, nil
}
