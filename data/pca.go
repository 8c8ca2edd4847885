package data

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// PCAWhitening is the affine map x -> (x - Mean)·W with W = V·diag(1/sqrt(λ)),
// where λ, V are the eigenvalues and eigenvectors of the covariance of the
// data it was fitted on. Whitened data have mean 0 and covariance I on that
// data; component k is the k-th principal component (largest λ first).
type PCAWhitening struct {
	Dim         int
	Mean        []float64 // length Dim
	W           []float64 // Dim×Dim, row-major: out[k] = Σ_j (x[j]-Mean[j])·W[j*Dim+k]
	Eigenvalues []float64 // λ, descending
}

// pcaMinRelEigen is the smallest eigenvalue of the correlation matrix,
// relative to its largest, that FitPCAWhitening accepts: below it columns
// are collinear and 1/sqrt(λ) would blow rounding noise up into
// unit-variance directions. The test is on correlations, not covariances,
// so that columns of very different scales (Parkinsons: Jitter(Abs) ~ 1e-5
// next to test_time ~ 1e2) are not mistaken for collinear ones.
const pcaMinRelEigen = 1e-10

// FitPCAWhitening fits the whitening of x (n rows of d values, row-major).
// The covariance is normalised by n (the population covariance), so the
// fitted rows come out with exactly unit covariance under the same
// convention. It returns an error when n < 2 or when the columns are
// (numerically) collinear or constant, i.e. the correlation matrix has an
// eigenvalue ≤ 1e-10 times its largest: such columns must be removed first.
func FitPCAWhitening(x []float64, n, d int) (*PCAWhitening, error) {
	if d <= 0 || n < 2 || len(x) != n*d {
		return nil, fmt.Errorf("pca whitening: need at least 2 rows of %d values, got %d values for %d rows", d, len(x), n)
	}
	mean := make([]float64, d)
	for i := range n {
		for j := range d {
			mean[j] += x[i*d+j]
		}
	}
	for j := range mean {
		mean[j] /= float64(n)
	}
	cov := mat.NewSymDense(d, nil)
	c := make([]float64, d)
	for i := range n {
		for j := range d {
			c[j] = x[i*d+j] - mean[j]
		}
		cov.SymRankOne(cov, 1/float64(n), mat.NewVecDense(d, c))
	}
	if err := checkCorrelationRank(cov); err != nil {
		return nil, err
	}
	var es mat.EigenSym
	if !es.Factorize(cov, true) {
		return nil, fmt.Errorf("pca whitening: eigendecomposition of the %d×%d covariance did not converge", d, d)
	}
	vals := es.Values(nil) // ascending
	var vecs mat.Dense
	es.VectorsTo(&vecs)
	w := &PCAWhitening{Dim: d, Mean: mean, W: make([]float64, d*d), Eigenvalues: make([]float64, d)}
	for k := range d {
		src := d - 1 - k // descending order
		l := vals[src]
		if !(l > 0) {
			return nil, fmt.Errorf("pca whitening: covariance is singular: eigenvalue %d of %d is %.3g; remove constant or collinear columns", k+1, d, l)
		}
		w.Eigenvalues[k] = l
		// Fix the eigenvector's sign (largest |entry| positive) so the
		// transform does not depend on the solver's arbitrary choice.
		sign, big := 1.0, 0.0
		for j := range d {
			if v := vecs.At(j, src); math.Abs(v) > big {
				big, sign = math.Abs(v), math.Copysign(1, v)
			}
		}
		s := sign / math.Sqrt(l)
		for j := range d {
			w.W[j*d+k] = vecs.At(j, src) * s
		}
	}
	return w, nil
}

// checkCorrelationRank returns an error when cov has a zero variance or its
// correlation matrix is numerically singular.
func checkCorrelationRank(cov *mat.SymDense) error {
	d := cov.SymmetricDim()
	corr := mat.NewSymDense(d, nil)
	for a := range d {
		for b := a; b < d; b++ {
			v := cov.At(a, a) * cov.At(b, b)
			if !(v > 0) {
				return fmt.Errorf("pca whitening: covariance is singular: column %d is constant", min(a, b)+1)
			}
			corr.SetSym(a, b, cov.At(a, b)/math.Sqrt(v))
		}
	}
	var es mat.EigenSym
	if !es.Factorize(corr, false) {
		return fmt.Errorf("pca whitening: eigendecomposition of the %d×%d correlation matrix did not converge", d, d)
	}
	vals := es.Values(nil)
	if !(vals[0] > pcaMinRelEigen*vals[d-1]) {
		return fmt.Errorf("pca whitening: covariance is singular: correlation eigenvalue %.3g (largest %.3g); remove constant or collinear columns", vals[0], vals[d-1])
	}
	return nil
}

// Apply returns the whitened copy of x (rows of Dim values, row-major).
func (w *PCAWhitening) Apply(x []float64) ([]float64, error) {
	d := w.Dim
	if len(x)%d != 0 {
		return nil, fmt.Errorf("pca whitening: %d values do not split into rows of %d", len(x), d)
	}
	out := make([]float64, len(x))
	c := make([]float64, d)
	for i := 0; i < len(x); i += d {
		for j := range d {
			c[j] = x[i+j] - w.Mean[j]
		}
		for k := range d {
			s := 0.0
			for j := range d {
				s += c[j] * w.W[j*d+k]
			}
			out[i+k] = s
		}
	}
	return out, nil
}
