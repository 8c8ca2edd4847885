package models

import (
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"

	"gonum.org/v1/gonum/mat"
)

// PCABasis is the affine subspace of the k leading principal components of
// a set of d-dimensional samples: their mean and the covariance's
// eigenvectors of the k largest eigenvalues, orthonormal. Each
// eigenvector's sign is fixed (its largest-magnitude entry positive) so a
// fit is a function of the data alone.
type PCABasis struct {
	Mean       []float64 // [d]
	Components []float64 // [d, k] row-major: column j is the j-th component
	Variances  []float64 // [k] the eigenvalues, largest first
	Total      float64   // the data's total variance (the trace)
}

// FitPCA fits the k leading components of n samples of dimension d, read
// by get(i, dst) into a float32 slice of length d. The covariance is summed
// in float64 in a fixed order (each entry by one goroutine), so the same
// samples give the same basis on every machine and every rank.
func FitPCA(n, d, k int, get func(i int, dst []float32) error) (*PCABasis, error) {
	if n < 2 || d < 1 || k < 1 || k > d {
		return nil, fmt.Errorf("pca: need at least 2 samples and 1 <= components (%d) <= dimension (%d), got %d samples", k, d, n)
	}
	x := make([]float64, n*d)
	row := make([]float32, d)
	mean := make([]float64, d)
	for i := range n {
		if err := get(i, row); err != nil {
			return nil, fmt.Errorf("pca: sample %d: %w", i, err)
		}
		for j, v := range row {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("pca: sample %d has a non-finite value at %d", i, j)
			}
			x[i*d+j] = float64(v)
			mean[j] += float64(v)
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	for i := range n {
		for j := range d {
			x[i*d+j] -= mean[j]
		}
	}
	cov := covariance(x, n, d)
	var es mat.EigenSym
	if !es.Factorize(mat.NewSymDense(d, cov), true) {
		return nil, fmt.Errorf("pca: the eigendecomposition of the %dx%d covariance did not converge", d, d)
	}
	vals := es.Values(nil)
	var vecs mat.Dense
	es.VectorsTo(&vecs)
	order := make([]int, d)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return vals[order[a]] > vals[order[b]] })
	b := &PCABasis{Mean: mean, Components: make([]float64, d*k), Variances: make([]float64, k)}
	for _, v := range vals {
		b.Total += max(v, 0)
	}
	for c := range k {
		src := order[c]
		b.Variances[c] = max(vals[src], 0)
		sign, big := 1.0, 0.0
		for j := range d {
			if v := vecs.At(j, src); math.Abs(v) > big {
				big, sign = math.Abs(v), math.Copysign(1, v)
			}
		}
		for j := range d {
			b.Components[j*k+c] = sign * vecs.At(j, src)
		}
	}
	return b, nil
}

// Explained is the fraction of the data's variance the components keep.
func (b *PCABasis) Explained() float64 {
	if b.Total == 0 {
		return 1
	}
	s := 0.0
	for _, v := range b.Variances {
		s += v
	}
	return s / b.Total
}

// covariance returns the d×d covariance of n centred rows x, normalised by
// n. Rows of the result are split among goroutines; each entry is one
// goroutine's sum over the samples in order, so the result does not depend
// on the number of goroutines.
func covariance(x []float64, n, d int) []float64 {
	cov := make([]float64, d*d)
	workers := max(1, min(runtime.GOMAXPROCS(0), d))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			acc := make([]float64, d)
			for a := w; a < d; a += workers {
				clear(acc[a:])
				for i := range n {
					r := x[i*d : (i+1)*d]
					if xa := r[a]; xa != 0 {
						for c := a; c < d; c++ {
							acc[c] += xa * r[c]
						}
					}
				}
				for c := a; c < d; c++ {
					cov[a*d+c] = acc[c] / float64(n)
					cov[c*d+a] = cov[a*d+c]
				}
			}
		}()
	}
	wg.Wait()
	return cov
}
