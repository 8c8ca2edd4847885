// Package data holds the paper's datasets (MNIST, Fashion-MNIST, CIFAR-10,
// SVHN, CelebA and ImageNet image folders, UCI tables, synthetic densities),
// the reference preprocessing, the per-rank sampler and the prefetching
// loader that assembles batches into tensors.
//
// Every reader reports bad input (missing files, wrong magic numbers,
// truncated files, count mismatches, unreadable images, bad numbers) as an
// error naming the file and the position; none panics on input.
package data

import "fmt"

// Dataset is an indexed collection of samples of one shape.
//
// Threading: Get may be called concurrently from several goroutines.
type Dataset interface {
	// Name identifies the dataset in logs and errors ("mnist/train").
	Name() string
	// Len is the number of samples.
	Len() int
	// Shape is the shape of one sample, e.g. [1 28 28] or [11].
	Shape() []int
	// Get writes sample i into dst (len = product of Shape) as float32 in
	// the dataset's natural scale (images in [0, 1]) and returns its label,
	// or -1 when the dataset has none. It returns an error for i out of
	// range or for a sample that cannot be read (a corrupt file).
	Get(i int, dst []float32) (label int, err error)
}

// Numel returns the number of values per sample of d.
func Numel(d Dataset) int {
	n := 1
	for _, s := range d.Shape() {
		n *= s
	}
	return n
}

// InMemory is a dataset whose samples sit in one float32 slice, row-major
// [n, shape...]: what the table and small image readers return.
type InMemory struct {
	name   string
	shape  []int
	values []float32
	labels []int // nil when unlabelled
}

// NewInMemory wraps values (len = n·product(shape)) and optional labels
// (len n, or nil). It returns an error on a size mismatch.
func NewInMemory(name string, shape []int, values []float32, labels []int) (*InMemory, error) {
	per := 1
	for _, s := range shape {
		per *= s
	}
	if per <= 0 || len(values)%per != 0 {
		return nil, fmt.Errorf("%s: %d values do not split into samples of shape %v", name, len(values), shape)
	}
	n := len(values) / per
	if labels != nil && len(labels) != n {
		return nil, fmt.Errorf("%s: %d labels for %d samples", name, len(labels), n)
	}
	return &InMemory{name: name, shape: append([]int(nil), shape...), values: values, labels: labels}, nil
}

func (d *InMemory) Name() string      { return d.name }
func (d *InMemory) Shape() []int      { return d.shape }
func (d *InMemory) Len() int          { return len(d.values) / max(Numel(d), 1) }
func (d *InMemory) Values() []float32 { return d.values }
func (d *InMemory) Labels() []int     { return d.labels }

func (d *InMemory) Get(i int, dst []float32) (int, error) {
	per := Numel(d)
	if i < 0 || i >= d.Len() {
		return 0, fmt.Errorf("%s: sample %d out of range [0, %d)", d.name, i, d.Len())
	}
	if len(dst) != per {
		return 0, fmt.Errorf("%s: destination of %d values for samples of %d", d.name, len(dst), per)
	}
	copy(dst, d.values[i*per:(i+1)*per])
	if d.labels == nil {
		return -1, nil
	}
	return d.labels[i], nil
}

// Subset is a view of the samples of d at the given indices (for example a
// train/validation split).
type Subset struct {
	D       Dataset
	Indices []int
	Label   string // name suffix, e.g. "val"
}

func (s *Subset) Name() string { return s.D.Name() + "/" + s.Label }
func (s *Subset) Len() int     { return len(s.Indices) }
func (s *Subset) Shape() []int { return s.D.Shape() }

func (s *Subset) Get(i int, dst []float32) (int, error) {
	if i < 0 || i >= len(s.Indices) {
		return 0, fmt.Errorf("%s: sample %d out of range [0, %d)", s.Name(), i, len(s.Indices))
	}
	return s.D.Get(s.Indices[i], dst)
}
