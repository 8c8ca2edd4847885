package trainer

import (
	"errors"
	"fmt"
	"math"
	"sort"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/data"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// The evaluation protocols of the reference code (paper-code-facts §4):
// exact SM loss on the first test batches, NLL (exact for flows, importance
// sampled log Z for DKEF) and OOD detection by typicality. Inputs take the
// model's dtype (the engine does not mix dtypes); statistics accumulate in
// float64.

// EvalResult is a mean over N per-sample values with its standard error
// (sample standard deviation / √N).
type EvalResult struct {
	Mean, StdErr float64
	N            int
}

// EvalNLLOptions configure EvalNLL. Zero values take the defaults noted.
type EvalNLLOptions struct {
	MaxSamples int            // data samples evaluated; default all of the dataset
	BatchSize  int            // data samples per model call; default 100
	NumSamples int            // DKEF importance samples K; default 10^6
	ChunkSize  int            // importance samples per model call; default 10^4
	QStd       float64        // proposal q = N(0, QStd² I); default 2 (the reference's N(0, 4I))
	Seed       uint64         // seeds the importance samples
	Backend    tensor.Backend // default: the backend of the model's parameters
	Progress   func(done, total int)
}

// NLLResult is a negative log-likelihood evaluation.
type NLLResult struct {
	// NLL is the mean of -log p(x) in nats over the data; its StdErr is the
	// data-sampling error only (LogZStdErr is separate).
	NLL EvalResult
	// BitsPerDim is NLL.Mean/(D ln 2) for D values per sample; its standard
	// error scales the same way.
	BitsPerDim, BitsPerDimStdErr float64
	// Exact is true for flows; false for DKEF, whose log Z is estimated by
	// importance sampling with Monte-Carlo standard error LogZStdErr (delta
	// method). Both are zero for flows.
	Exact            bool
	LogZ, LogZStdErr float64
}

// EvalNLL returns the model's own negative log-likelihood of the samples
// of d: exact for flows (NICE), log p~(x) - log Z with an importance-sampled
// log Z for DKEF. Other models have no tractable likelihood: an error.
// Progress reports each phase in turn (DKEF: importance samples, then data
// samples). A diverged model gives a non-finite NLL, not an error.
func EvalNLL(m models.Model, d data.Dataset, o EvalNLLOptions) (NLLResult, error) {
	o.BatchSize = evalDefault(o.BatchSize, 100)
	if o.BatchSize < 0 || o.MaxSamples < 0 {
		return NLLResult{}, fmt.Errorf("eval nll: batch size and max samples must not be negative (got %d, %d)", o.BatchSize, o.MaxSamples)
	}
	var res NLLResult
	var e models.Energy
	switch mm := m.(type) {
	case models.Flow:
		e, res.Exact = mm, true
	case *models.DKEF:
		z, se, err := DKEFLogZ(mm, o)
		if err != nil {
			return NLLResult{}, err
		}
		e, res.LogZ, res.LogZStdErr = mm, z, se
	default:
		return NLLResult{}, fmt.Errorf("eval nll: model kind %q has no tractable likelihood (want a flow such as nice, or dkef)", m.Spec().Kind)
	}
	n := d.Len()
	if o.MaxSamples > 0 {
		n = min(n, o.MaxSamples)
	}
	lp, err := evalLogDensities(e, evalBackend(m, o.Backend), d, evalRange(0, n), o.BatchSize, o.Progress)
	if err != nil {
		return NLLResult{}, err
	}
	var acc evalMoments
	for _, v := range lp {
		acc.add(res.LogZ - v)
	}
	if res.NLL, err = acc.result(fmt.Sprintf("eval nll on %s", d.Name())); err != nil {
		return NLLResult{}, err
	}
	dim := float64(data.Numel(d))
	res.BitsPerDim, res.BitsPerDimStdErr = res.NLL.Mean/(dim*math.Ln2), res.NLL.StdErr/(dim*math.Ln2)
	return res, nil
}

// DKEFLogZ estimates log Z = log ∫ p~ by importance sampling, log Z ≈
// logsumexp_k(log p~(z_k) - log q(z_k)) - log K with z_k ~ q = N(0, QStd² I),
// accumulated over chunks with a running maximum so no weight overflows. The
// standard error is the delta method's sd(w)/(√K·mean(w)) for w = p~/q.
// A NaN or +Inf log-density at a sample is an error.
func DKEFLogZ(m *models.DKEF, o EvalNLLOptions) (logZ, stdErr float64, err error) {
	k, chunk, qs := evalDefault(o.NumSamples, 1_000_000), evalDefault(o.ChunkSize, 10_000), o.QStd
	if qs == 0 {
		qs = 2
	}
	if k < 2 || chunk < 0 || !(qs > 0) || math.IsInf(qs, 0) {
		return 0, 0, fmt.Errorf("dkef log Z: need at least 2 samples, a positive chunk size and a positive finite q std (got %d, %d, %v)", k, chunk, qs)
	}
	be := evalBackend(m, o.Backend)
	dim := m.InputShape()[0]
	tp, rng := ad.NewTape(be), tensor.NewRNG(o.Seed)
	logNorm := -0.5 * float64(dim) * math.Log(2*math.Pi*qs*qs)
	mx, s, s2 := math.Inf(-1), 0.0, 0.0 // Σ exp(w-mx), Σ exp(2(w-mx))
	for done := 0; done < k; done += chunk {
		c := min(chunk, k-done)
		z := be.Empty(m.DType(), c, dim)
		be.Random(z, tensor.Normal(0, qs), rng)
		var lp []float64
		tp.NoGrad(func() { lp = m.LogDensity(tp.Const(z)).Value().ToFloat64s() })
		zs := z.ToFloat64s() // log q of the points as drawn (after dtype rounding)
		tp.Reset()
		be.Release(z)
		for i, l := range lp {
			r2 := 0.0
			for _, v := range zs[i*dim : (i+1)*dim] {
				r2 += v * v
			}
			w := l - (logNorm - 0.5*r2/(qs*qs))
			if math.IsInf(w, -1) {
				continue // zero weight; skipping keeps exp(w-mx) finite while mx = -Inf
			}
			if math.IsNaN(w) || math.IsInf(w, 1) {
				return 0, 0, fmt.Errorf("dkef log Z: non-finite log-density %v at an importance sample", l)
			}
			if w > mx {
				s, s2, mx = s*math.Exp(mx-w), s2*math.Exp(2*(mx-w)), w
			}
			s, s2 = s+math.Exp(w-mx), s2+math.Exp(2*(w-mx))
		}
		if o.Progress != nil {
			o.Progress(done+c, k)
		}
	}
	kf := float64(k)
	logZ = mx + math.Log(s) - math.Log(kf)
	// Relative variance of w: K·Σw²/(Σw)² - 1; divided by K-1 for the
	// unbiased variance of the mean.
	return logZ, math.Sqrt(max(kf*s2/(s*s)-1, 0) / (kf - 1)), nil
}

// OODOptions configure EvalOODAUC. Zero values take the reference's values.
type OODOptions struct {
	RefBatches   int // training batches for the reference energy; default 10
	RefBatchSize int // default 100
	BatchSize    int // M, test images per statistic; default 2
	InBatches    int // in-distribution batches; default 1000
	OutBatches   int // out-of-distribution batches; default 1000
	EvalSize     int // samples per model call; default 100
	Seed         uint64
	Backend      tensor.Backend // default: the backend of the model's parameters
}

// EvalOODAUC returns the AUC of OOD detection by typicality: with E = -log p~
// and ref = the mean E over RefBatches random training batches, a test batch
// of M samples scores |mean E(batch) - ref|; the AUC ranks OutBatches batches
// of out (positives) against InBatches batches of in. Batches are drawn with
// a RNG seeded by Seed, without replacement within a batch.
func EvalOODAUC(m models.Energy, train, in, out data.Dataset, o OODOptions) (float64, error) {
	o.RefBatches, o.RefBatchSize = evalDefault(o.RefBatches, 10), evalDefault(o.RefBatchSize, 100)
	o.BatchSize, o.EvalSize = evalDefault(o.BatchSize, 2), evalDefault(o.EvalSize, 100)
	o.InBatches, o.OutBatches = evalDefault(o.InBatches, 1000), evalDefault(o.OutBatches, 1000)
	if min(o.RefBatches, o.RefBatchSize, o.BatchSize, o.InBatches, o.OutBatches, o.EvalSize) < 0 {
		return 0, errors.New("eval ood: counts and sizes must be positive")
	}
	be, rng := evalBackend(m, o.Backend), tensor.NewRNG(o.Seed)
	batchEnergies := func(d data.Dataset, batches, size int) ([]float64, error) {
		if d.Len() < size {
			return nil, fmt.Errorf("eval ood: %s has %d samples, fewer than a batch of %d", d.Name(), d.Len(), size)
		}
		var idx []int
		for range batches {
			idx = append(idx, evalSubset(rng, d.Len(), size)...)
		}
		lp, err := evalLogDensities(m, be, d, idx, o.EvalSize, nil)
		if err != nil {
			return nil, err
		}
		means := make([]float64, batches)
		for b := range means {
			for _, v := range lp[b*size : (b+1)*size] {
				means[b] -= v / float64(size)
			}
		}
		return means, nil
	}
	refs, err := batchEnergies(train, o.RefBatches, o.RefBatchSize)
	if err != nil {
		return 0, err
	}
	ref := 0.0
	for _, v := range refs {
		ref += v / float64(len(refs))
	}
	stat := func(d data.Dataset, batches int) ([]float64, error) {
		e, err := batchEnergies(d, batches, o.BatchSize)
		for i := range e {
			e[i] = math.Abs(e[i] - ref)
		}
		return e, err
	}
	neg, err := stat(in, o.InBatches)
	if err != nil {
		return 0, err
	}
	pos, err := stat(out, o.OutBatches)
	if err != nil {
		return 0, err
	}
	return AUC(pos, neg), nil
}

// AUC returns the area under the ROC curve of scores where higher means
// positive: the Mann-Whitney U statistic P(pos > neg) + ½P(pos = neg) over
// all pairs, computed exactly from mid-ranks. It is NaN when either side is
// empty or a score is NaN.
func AUC(pos, neg []float64) float64 {
	type item struct {
		v   float64
		pos bool
	}
	all := make([]item, 0, len(pos)+len(neg))
	for _, v := range pos {
		all = append(all, item{v, true})
	}
	for _, v := range neg {
		all = append(all, item{v, false})
	}
	for _, it := range all {
		if math.IsNaN(it.v) {
			return math.NaN()
		}
	}
	if len(pos) == 0 || len(neg) == 0 {
		return math.NaN()
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	// Sum of the positives' ranks, a tied group sharing its mid-rank
	// (ranks 1-based; mid-rank of positions i..j-1 is (i+j+1)/2).
	rankSum := 0.0
	for i := 0; i < len(all); {
		j, np := i, 0
		for ; j < len(all) && all[j].v == all[i].v; j++ {
			if all[j].pos {
				np++
			}
		}
		rankSum += float64(np) * float64(i+j+1) / 2
		i = j
	}
	np, nn := float64(len(pos)), float64(len(neg))
	return (rankSum - np*(np+1)/2) / (np * nn)
}

func evalDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// evalBackend is be, else the backend holding m's parameters.
func evalBackend(m models.Model, be tensor.Backend) tensor.Backend {
	if be != nil {
		return be
	}
	if ps := m.Params(); len(ps) > 0 {
		return ps[0].Value.Backend()
	}
	return tensor.DefaultCPU()
}

func evalRange(lo, hi int) []int {
	idx := make([]int, 0, max(hi-lo, 0))
	for i := lo; i < hi; i++ {
		idx = append(idx, i)
	}
	return idx
}

// evalSubset draws size distinct indices of [0, n) uniformly (Floyd's
// algorithm: exactly size draws, no rejection loop).
func evalSubset(rng *tensor.RNG, n, size int) []int {
	seen := make(map[int]bool, size)
	out := make([]int, 0, size)
	for j := n - size; j < n; j++ {
		t := rng.IntN(j + 1)
		if seen[t] {
			t = j
		}
		seen[t] = true
		out = append(out, t)
	}
	return out
}

// evalRead returns the samples idx of d as a tensor [len(idx), InputShape...]
// in m's dtype on be.
func evalRead(m models.Model, be tensor.Backend, d data.Dataset, idx []int) (*tensor.Tensor, error) {
	per, shape := data.Numel(d), append([]int{len(idx)}, m.InputShape()...)
	if want := tensor.Shape(m.InputShape()).Numel(); per != want {
		return nil, fmt.Errorf("%s: samples of shape %v do not fit the model's input %v", d.Name(), d.Shape(), m.InputShape())
	}
	buf, vals := make([]float32, per), make([]float64, len(idx)*per)
	for k, i := range idx {
		if _, err := d.Get(i, buf); err != nil {
			return nil, err
		}
		for j, v := range buf {
			vals[k*per+j] = float64(v)
		}
	}
	return tensor.FromFloat64s(be, m.DType(), shape, vals), nil
}

// evalLogDensities returns log p~ of the samples idx of d, chunk samples per
// model call, without recording gradients.
func evalLogDensities(e models.Energy, be tensor.Backend, d data.Dataset, idx []int, chunk int, progress func(done, total int)) ([]float64, error) {
	tp := ad.NewTape(be)
	out := make([]float64, 0, len(idx))
	for lo := 0; lo < len(idx); lo += chunk {
		hi := min(lo+chunk, len(idx))
		x, err := evalRead(e, be, d, idx[lo:hi])
		if err != nil {
			return nil, err
		}
		tp.NoGrad(func() { out = append(out, e.LogDensity(tp.Const(x)).Value().ToFloat64s()...) })
		tp.Reset()
		be.Release(x)
		if progress != nil {
			progress(hi, len(idx))
		}
	}
	return out, nil
}

// evalMoments accumulates a mean and variance (Welford, stable for large N).
type evalMoments struct {
	n        int
	mean, m2 float64
}

func (a *evalMoments) add(v float64) {
	a.n++
	d := v - a.mean
	a.mean += d / float64(a.n)
	a.m2 += d * (v - a.mean)
}

func (a *evalMoments) addAll(vs []float64) {
	for _, v := range vs {
		a.add(v)
	}
}

func (a *evalMoments) result(what string) (EvalResult, error) {
	if a.n == 0 {
		return EvalResult{}, fmt.Errorf("%s: no samples", what) // an empty dataset
	}
	r := EvalResult{Mean: a.mean, N: a.n}
	if a.n > 1 {
		r.StdErr = math.Sqrt(a.m2 / float64(a.n-1) / float64(a.n))
	}
	return r, nil
}
