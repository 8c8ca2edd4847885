package models

import (
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// pcaData is n samples of dimension d with a few strong directions and
// weak isotropic noise, so the leading components are well separated.
func pcaData(n, d int, seed uint64) []float32 {
	be := tensor.DefaultCPU()
	g := be.Empty(tensor.Float64, n, d)
	be.Random(g, tensor.Normal(0, 1), tensor.NewRNG(seed))
	x := g.ToFloat64s()
	out := make([]float32, n*d)
	for i := range n {
		for j := range d {
			scale := 0.1
			if j < 3 {
				scale = float64(3 - j) // variances 9, 4, 1 on axes 0-2 before mixing
			}
			out[i*d+j] = float32(0.5 + scale*x[i*d+j] + 0.3*x[i*d+(j+1)%d])
		}
	}
	return out
}

func getter(x []float32, d int) func(i int, dst []float32) error {
	return func(i int, dst []float32) error { copy(dst, x[i*d:(i+1)*d]); return nil }
}

// TestFitPCAMatchesSVD: the components and variances equal those of an
// independent algorithm, gonum's SVD of the centred data matrix (squared
// singular values over n are the covariance's eigenvalues, the right
// singular vectors its eigenvectors, up to sign), to 1e-9.
func TestFitPCAMatchesSVD(t *testing.T) {
	n, d, k := 400, 7, 3
	x := pcaData(n, d, 1)
	b, err := FitPCA(n, d, k, getter(x, d))
	if err != nil {
		t.Fatal(err)
	}
	c := mat.NewDense(n, d, nil)
	for i := range n {
		for j := range d {
			c.Set(i, j, float64(x[i*d+j])-b.Mean[j])
		}
	}
	var svd mat.SVD
	if !svd.Factorize(c, mat.SVDThin) {
		t.Fatal("svd failed")
	}
	sv := svd.Values(nil)
	var v mat.Dense
	svd.VTo(&v)
	total := 0.0
	for _, s := range sv {
		total += s * s / float64(n)
	}
	if math.Abs(b.Total-total) > 1e-9*total {
		t.Errorf("total variance %v, SVD %v", b.Total, total)
	}
	for q := range k {
		if want := sv[q] * sv[q] / float64(n); math.Abs(b.Variances[q]-want) > 1e-9*want {
			t.Errorf("variance %d = %v, SVD %v", q, b.Variances[q], want)
		}
		dot := 0.0
		for j := range d {
			dot += b.Components[j*k+q] * v.At(j, q)
		}
		if math.Abs(math.Abs(dot)-1) > 1e-9 {
			t.Errorf("component %d: |cos| with the SVD's = %v, want 1", q, math.Abs(dot))
		}
	}
	if e := b.Explained(); !(e > 0.9 && e <= 1) {
		t.Errorf("three strong directions of seven explain %v of the variance", e)
	}
}

// TestFitPCADeterministic: the basis does not depend on the number of
// threads that sum the covariance (ranks of a data-parallel run fit it
// alike), bit for bit.
func TestFitPCADeterministic(t *testing.T) {
	n, d, k := 300, 9, 4
	x := pcaData(n, d, 2)
	prev := runtime.GOMAXPROCS(1)
	one, err := FitPCA(n, d, k, getter(x, d))
	runtime.GOMAXPROCS(4)
	four, err2 := FitPCA(n, d, k, getter(x, d))
	runtime.GOMAXPROCS(prev)
	if err != nil || err2 != nil {
		t.Fatal(err, err2)
	}
	if !slices.Equal(one.Components, four.Components) || !slices.Equal(one.Mean, four.Mean) {
		t.Fatal("the basis changed with the number of threads")
	}
}

func TestFitPCABadInput(t *testing.T) {
	x := pcaData(10, 4, 3)
	for _, c := range []struct{ n, d, k int }{{1, 4, 2}, {10, 4, 0}, {10, 4, 5}} {
		if _, err := FitPCA(c.n, c.d, c.k, getter(x, 4)); err == nil {
			t.Errorf("FitPCA(n %d, d %d, k %d) accepted", c.n, c.d, c.k)
		}
	}
	x[5] = float32(math.NaN())
	if _, err := FitPCA(10, 4, 2, getter(x, 4)); err == nil {
		t.Error("a NaN sample was accepted")
	}
}

func smallScore(t *testing.T, dt tensor.DType, pca int) *MLPScore {
	t.Helper()
	m, err := Build(Spec{Kind: "mlp-score", Options: map[string]any{"input_dim": 7, "hidden": []int{6, 5},
		"num_levels": 4, "sigma_begin": 2.0, "sigma_end": 0.25, "sigma_data": 0.8, "pca": pca}}, tensor.DefaultCPU(), dt, 3)
	if err != nil {
		t.Fatal(err)
	}
	s := m.(*MLPScore)
	if pca > 0 {
		if err := s.InitFromData(200, getter(pcaData(200, 7, 4), 7)); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func swish(v float64) float64 { return v / (1 + math.Exp(-v)) }

// refScore is MLPScore's Score as a plain float64 loop over its weights.
func refScore(m *MLPScore, x []float64, level int) []float64 {
	sig := m.Sigmas()[level]
	d, k := m.opts.InputDim, m.opts.PCA
	z := x
	var mean, comps []float64
	if k > 0 {
		mean, comps = m.mean.ToFloat64s(), m.comps.ToFloat64s()
		z = make([]float64, k)
		for q := range k {
			for j := range d {
				z[q] += (x[j] - mean[j]) * comps[j*k+q]
			}
		}
	}
	h := make([]float64, len(z))
	for i := range z {
		h[i] = z[i] / math.Sqrt(sig*sig+m.opts.SigmaData*m.opts.SigmaData)
	}
	for i, l := range m.layers {
		h = affine(l.Weight.Value, l.Bias.Value, h)
		if i < len(m.embeds) {
			for o := range h {
				h[o] = swish(h[o] + m.embeds[i].Weight.Value.At(o, level))
			}
		}
	}
	for i := range h {
		h[i] /= sig
	}
	if k == 0 {
		return h
	}
	out := make([]float64, d)
	for j := range d {
		inSpace := 0.0
		for q := range k {
			out[j] += comps[j*k+q] * h[q]
			inSpace += comps[j*k+q] * z[q]
		}
		out[j] -= (x[j] - mean[j] - inSpace) / (sig * sig)
	}
	return out
}

// TestMLPScoreMatchesDirectComputation: s(x, σ_y) with and without PCA
// against the float64 loop, at every level, to 1e-12.
func TestMLPScoreMatchesDirectComputation(t *testing.T) {
	for _, pca := range []int{0, 3} {
		m := smallScore(t, tensor.Float64, pca)
		be := tensor.DefaultCPU()
		x := be.Empty(tensor.Float64, 4, 7)
		be.Random(x, tensor.Normal(0.5, 1), tensor.NewRNG(5))
		levels := []int{0, 1, 2, 3}
		tp := ad.NewTape(be)
		got := m.Score(tp.Const(x), OneHot(tp, tensor.Float64, levels, 4)).Value().ToFloat64s()
		xs := x.ToFloat64s()
		for i, l := range levels {
			want := refScore(m, xs[i*7:(i+1)*7], l)
			for j, w := range want {
				if g := got[i*7+j]; math.Abs(g-w) > 1e-12*(1+math.Abs(w)) {
					t.Fatalf("pca %d sample %d [%d]: %v, reference %v", pca, i, j, g, w)
				}
			}
		}
	}
}

// TestMLPScorePCASubspace: with PCA the part of s outside the subspace is
// exactly the Gaussian's, −r/σ², so Tweedie's step x + σ²·s(x, σ) puts
// every sample in the subspace (its residual vanishes to rounding).
func TestMLPScorePCASubspace(t *testing.T) {
	m := smallScore(t, tensor.Float64, 3)
	be := tensor.DefaultCPU()
	x := be.Empty(tensor.Float64, 5, 7)
	be.Random(x, tensor.Normal(0.5, 2), tensor.NewRNG(6))
	level := 2
	sig := m.Sigmas()[level]
	tp := ad.NewTape(be)
	s := m.Score(tp.Const(x), OneHot(tp, tensor.Float64, []int{level, level, level, level, level}, 4)).Value().ToFloat64s()
	xs, mean, comps := x.ToFloat64s(), m.mean.ToFloat64s(), m.comps.ToFloat64s()
	for i := range 5 {
		y := make([]float64, 7)
		for j := range y {
			y[j] = xs[i*7+j] + sig*sig*s[i*7+j] - mean[j]
		}
		for j := range 7 { // y − V Vᵀ y must be 0
			r := y[j]
			for q := range 3 {
				dot := 0.0
				for jj := range 7 {
					dot += comps[jj*3+q] * y[jj]
				}
				r -= comps[j*3+q] * dot
			}
			if math.Abs(r) > 1e-12 {
				t.Fatalf("sample %d: Tweedie's step leaves %v outside the subspace at %d", i, r, j)
			}
		}
	}
}

// TestMLPScoreGradients: the derivatives of the score with respect to x
// and every parameter (what DSM and SSM train) against float64 central
// differences, with and without PCA.
func TestMLPScoreGradients(t *testing.T) {
	for _, pca := range []int{0, 3} {
		m := smallScore(t, tensor.Float64, pca)
		be := tensor.DefaultCPU()
		x := be.Empty(tensor.Float64, 3, 7)
		be.Random(x, tensor.Normal(0.5, 1), tensor.NewRNG(8))
		w := be.Empty(tensor.Float64, 3, 7)
		be.Random(w, tensor.Normal(0, 1), tensor.NewRNG(9))
		inputs := []*tensor.Tensor{x}
		for _, p := range m.Params() {
			inputs = append(inputs, p.Value)
		}
		f := func(vs []*ad.Var) *ad.Var {
			tp := vs[0].Tape()
			return ad.Sum(ad.Mul(m.Score(vs[0], OneHot(tp, tensor.Float64, []int{0, 3, 1}, 4)), tp.Const(w)))
		}
		if err := ad.CheckGrad(be, f, inputs, ad.CheckOptions{}); err != nil {
			t.Fatalf("pca %d: %v", pca, err)
		}
	}
}

// TestMLPScoreCheckpointKeepsPCA: the fitted subspace is saved with the
// parameters and loaded into a fresh (unfitted) model, so sampling a
// finished run uses the basis it trained with.
func TestMLPScoreCheckpointKeepsPCA(t *testing.T) {
	m := smallScore(t, tensor.Float32, 3)
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := SaveCheckpoint(path, m, nil); err != nil {
		t.Fatal(err)
	}
	fresh, err := Build(m.Spec(), tensor.DefaultCPU(), tensor.Float32, 9)
	if err != nil {
		t.Fatal(err)
	}
	if err := LoadParams(path, fresh); err != nil {
		t.Fatal(err)
	}
	f := fresh.(*MLPScore)
	if !slices.Equal(f.comps.Float32s(), m.comps.Float32s()) || !slices.Equal(f.mean.Float32s(), m.mean.Float32s()) {
		t.Fatal("the PCA subspace did not survive the checkpoint")
	}
}

// TestMLPScoreReplicaKeepsPCA: a replica on another device gets the lead's
// fitted subspace, not the unfitted default.
func TestMLPScoreReplicaKeepsPCA(t *testing.T) {
	m := smallScore(t, tensor.Float64, 3)
	other := tensor.NewLogicalCPU("cpu:1")
	r, err := Replicate(m, []tensor.Backend{tensor.DefaultCPU(), other})
	if err != nil {
		t.Fatal(err)
	}
	rep := ReplicasOf(r).Replica(1).(*MLPScore)
	if !slices.Equal(rep.comps.ToFloat64s(), m.comps.ToFloat64s()) || !slices.Equal(rep.mean.ToFloat64s(), m.mean.ToFloat64s()) {
		t.Fatal("the replica's PCA subspace differs from the lead's")
	}
}

func TestMLPScoreBadOptions(t *testing.T) {
	for _, o := range []map[string]any{
		{"num_levels": 0}, {"sigma_begin": 0.1, "sigma_end": 1.0}, {"sigma_end": 0.0}, {"sigma_data": 0.0},
		{"pca": -1}, {"pca": 785}, {"pca": 10, "pca_samples": 1}, {"hidden": []int{0}}, {"activation": "nope"},
	} {
		if _, err := Build(Spec{Kind: "mlp-score", Options: o}, tensor.DefaultCPU(), tensor.Float32, 1); err == nil {
			t.Errorf("options %v accepted", o)
		}
	}
}

// TestMLPScoreParamCount: the defaults' parameters as docs/models.md
// counts them: layers 784→1024→1024→784 with biases plus a 20×1024 level
// bias per hidden layer; with pca 40 the outer layers are 40 wide.
func TestMLPScoreParamCount(t *testing.T) {
	for pca, want := range map[int]int{0: 784*1024 + 1024 + 1024*1024 + 1024 + 1024*784 + 784 + 2*20*1024, 40: 40*1024 + 1024 + 1024*1024 + 1024 + 1024*40 + 40 + 2*20*1024} {
		m, err := Build(Spec{Kind: "mlp-score", Options: map[string]any{"pca": pca}}, tensor.DefaultCPU(), tensor.Float32, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := NumParams(m); got != want {
			t.Errorf("pca %d: %d parameters, want %d", pca, got, want)
		}
	}
	if 784*1024+1024+1024*1024+1024+1024*784+784+2*20*1024 != 2698000 || 40*1024+1024+1024*1024+1024+1024*40+40+2*20*1024 != 1173544 {
		t.Error("docs/models.md's counts are stale")
	}
}
