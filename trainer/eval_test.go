package trainer

import (
	"math"
	"strings"
	"testing"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/data"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/objective"
	"github.com/fdsm-go/fdsm/tensor"
)

// evalGauss is log p~(x) = -½‖(x-μ)/s‖², a test-local Energy whose score
// -(x-μ)/s² and Hessian trace -Σ1/s² are known in closed form.
type evalGauss struct {
	mu *ad.Param
	s  []float64
}

func newEvalGauss(mu, s []float64) *evalGauss {
	be := tensor.DefaultCPU()
	return &evalGauss{mu: ad.NewParam("mu", tensor.FromFloat64s(be, tensor.Float64, tensor.Shape{len(mu)}, mu)), s: s}
}

func (g *evalGauss) Spec() models.Spec   { return models.Spec{Kind: "test-gauss"} }
func (g *evalGauss) Params() []*ad.Param { return []*ad.Param{g.mu} }
func (g *evalGauss) InputShape() []int   { return []int{len(g.s)} }
func (g *evalGauss) DType() tensor.DType { return tensor.Float64 }
func (g *evalGauss) LogDensity(x *ad.Var) *ad.Var {
	inv := make([]float64, len(g.s))
	for i, s := range g.s {
		inv[i] = 1 / s
	}
	is := x.Tape().Const(tensor.FromFloat64s(tensor.DefaultCPU(), tensor.Float64, tensor.Shape{len(inv)}, inv))
	return ad.Scale(ad.Sum(ad.Square(ad.Mul(ad.Sub(x, x.Tape().Param(g.mu)), is)), 1), -0.5)
}

// evalGaussData returns n samples of N(mean, diag(scale²)) (stored as float32).
func evalGaussData(t *testing.T, n int, mean, scale []float64, seed uint64) *data.InMemory {
	t.Helper()
	rng, d := tensor.NewRNG(seed), len(mean)
	v := make([]float32, n*d)
	for i := range v {
		v[i] = float32(mean[i%d] + scale[i%d]*rng.NormFloat64())
	}
	ds, err := data.NewInMemory("gauss", []int{d}, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestEvalSMGaussian: on N(m*, S*²) data the Gaussian model's exact SM loss
// has expectation Σⱼ ½(S*ⱼ² + (m*ⱼ-μⱼ)²)/sⱼ⁴ - 1/sⱼ². EvalSM must (a) equal
// the closed-form per-sample terms averaged over exactly the first 1500
// samples (to 1e-12, rounding only) and (b) match the expectation within 5
// of its reported standard errors (a correct estimator fails w.p. ~6e-7).
func TestEvalSMGaussian(t *testing.T) {
	mean, scale := []float64{0.5, -1, 2}, []float64{1, 0.5, 2}
	mu, s := []float64{0.2, -0.5, 1}, []float64{1.5, 0.7, 1.2}
	ds := evalGaussData(t, 1700, mean, scale, 1)
	calls, last, prev := 0, [2]int{}, 0
	r, err := EvalSM(newEvalGauss(mu, s), ds, EvalSMOptions{Progress: func(done, total int) {
		calls++
		if done <= prev {
			t.Errorf("progress went from %d to %d", prev, done)
		}
		prev, last = done, [2]int{done, total}
	}})
	if err != nil {
		t.Fatal(err)
	}
	// 15 batches of 100 samples × 3 coordinates = 4500 rows, 64 a chunk.
	if r.N != 1500 || calls != 15*5 || last != [2]int{4500, 4500} {
		t.Fatalf("N = %d, progress calls = %d ending at %v; want 1500, 75 and [4500 4500]", r.N, calls, last)
	}
	direct, buf := 0.0, make([]float32, 3)
	for i := 0; i < 1500; i++ {
		ds.Get(i, buf)
		for j := range mu {
			g := (float64(buf[j]) - mu[j]) / (s[j] * s[j])
			direct += (0.5*g*g - 1/(s[j]*s[j])) / 1500
		}
	}
	if math.Abs(r.Mean-direct) > 1e-12*math.Abs(direct) {
		t.Errorf("EvalSM mean %.15g, direct %.15g", r.Mean, direct)
	}
	want := 0.0
	for j := range mu {
		dm := mean[j] - mu[j]
		want += 0.5*(scale[j]*scale[j]+dm*dm)/math.Pow(s[j], 4) - 1/(s[j]*s[j])
	}
	if math.Abs(r.Mean-want) > 5*r.StdErr || r.StdErr <= 0 {
		t.Errorf("EvalSM %g ± %g, expectation %g", r.Mean, r.StdErr, want)
	}
	// A dataset smaller than 15·100 is evaluated whole.
	if r, err := EvalSM(newEvalGauss(mu, s), evalGaussData(t, 130, mean, scale, 2), EvalSMOptions{}); err != nil || r.N != 130 {
		t.Errorf("small dataset: N = %d, err = %v; want 130", r.N, err)
	}
	if _, err := EvalSM(newEvalGauss(mu, s), evalGaussData(t, 0, mean, scale, 2), EvalSMOptions{}); err == nil || !strings.Contains(err.Error(), "no samples") {
		t.Errorf("empty dataset: err = %v", err)
	}
	if _, err := EvalSM(newEvalGauss(mu, s), evalGaussData(t, 10, []float64{0, 0}, []float64{1, 1}, 3), EvalSMOptions{}); err == nil || !strings.Contains(err.Error(), "do not fit") {
		t.Errorf("shape mismatch: err = %v", err)
	}
}

// TestEvalSMMatchesReferences: on an MLP energy (a dense Hessian), EvalSM's
// per-sample loss equals the second-order-graph "sm" objective's to
// rounding (1e-10 relative, float64) and float64 central differences of
// log p (h = 1e-3 relative to the value scale; truncation O(h²) and
// rounding O(ε/h²) both below 1e-5 relative), for chunk sizes that split
// samples across chunks.
func TestEvalSMMatchesReferences(t *testing.T) {
	be := tensor.DefaultCPU()
	mm, err := models.Build(models.Spec{Kind: "mlp", Options: map[string]any{"input_dim": 5, "hidden": []any{7, 6}, "activation": "softplus"}}, be, tensor.Float64, 3)
	if err != nil {
		t.Fatal(err)
	}
	e := mm.(models.Energy)
	ds := evalGaussData(t, 9, []float64{0, 1, -1, 0.5, 0}, []float64{1, 1, 2, 0.5, 1}, 4)
	obj, err := objective.New("sm", objective.Options{})
	if err != nil {
		t.Fatal(err)
	}
	x, err := evalRead(e, be, ds, evalRange(0, 9))
	if err != nil {
		t.Fatal(err)
	}
	tp := ad.NewTape(be)
	ref, err := obj.Eval(tp, e, objective.Batch{X: x}, tensor.NewRNG(0))
	if err != nil {
		t.Fatal(err)
	}
	want := ref.PerSample.Value().ToFloat64s()
	vals := x.ToFloat64s()
	fd := smCentralDifferences(t, e, vals, 5)
	score, err := scoreFunc(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, chunk := range []int{1, 7, 64} {
		got := smPerSample(e, score, be, vals, 9, chunk, func(int) {})
		for i := range want {
			if math.Abs(got[i]-want[i]) > 1e-10*(1+math.Abs(want[i])) {
				t.Errorf("chunk %d, sample %d: %.15g, graph sm %.15g", chunk, i, got[i], want[i])
			}
			if math.Abs(got[i]-fd[i]) > 1e-5*(1+math.Abs(fd[i])) {
				t.Errorf("chunk %d, sample %d: %.15g, central differences %.15g", chunk, i, got[i], fd[i])
			}
		}
	}
}

// smCentralDifferences is ½‖g‖² + Σⱼ ∂²f/∂xⱼ² of f = log p by central
// differences of f alone, in float64: g_j ≈ (f₊ - f₋)/2h, H_jj ≈ (f₊ - 2f + f₋)/h².
func smCentralDifferences(t *testing.T, e models.Energy, vals []float64, dim int) []float64 {
	t.Helper()
	be := tensor.DefaultCPU()
	f := func(x []float64) float64 {
		tp := ad.NewTape(be)
		defer tp.Reset()
		xt := tensor.FromFloat64s(be, tensor.Float64, tensor.Shape{1, dim}, x)
		return e.LogDensity(tp.Const(xt)).Value().ToFloat64s()[0]
	}
	const h = 1e-3
	n := len(vals) / dim
	out := make([]float64, n)
	for i := range n {
		x := append([]float64(nil), vals[i*dim:(i+1)*dim]...)
		f0 := f(x)
		for j := range dim {
			x[j] += h
			fp := f(x)
			x[j] -= 2 * h
			fm := f(x)
			x[j] += h
			g := (fp - fm) / (2 * h)
			out[i] += 0.5*g*g + (fp-2*f0+fm)/(h*h)
		}
	}
	return out
}

// TestEvalSMMemoryFlat: the engine's peak memory while evaluating does not
// grow with the number of samples (it grew with samples × d: 10.8 GB for 5
// MNIST samples of the main job's model).
func TestEvalSMMemoryFlat(t *testing.T) {
	peak := func(n int) int64 {
		be := tensor.NewCPU()
		mm, err := models.Build(models.Spec{Kind: "resnet_ebm", Options: map[string]any{"in_channels": 1, "image_size": 8, "n_chan": 4,
			"blocks": []any{map[string]any{"out": 8, "down": true}}}}, be, tensor.Float32, 1)
		if err != nil {
			t.Fatal(err)
		}
		ds := evalGaussData(t, n, make([]float64, 64), fill(64, 0.3), 5)
		img, err := data.NewInMemory("img", []int{1, 8, 8}, ds.Values(), nil)
		if err != nil {
			t.Fatal(err)
		}
		be.ResetPeak()
		if _, err := EvalSM(mm.(models.Energy), img, EvalSMOptions{ChunkRows: 32, Backend: be}); err != nil {
			t.Fatal(err)
		}
		return be.MemStats().PeakBytes
	}
	p2, p12 := peak(2), peak(12)
	if p2 <= 0 || p12 > p2+p2/10 {
		t.Fatalf("peak engine memory %d bytes for 2 samples, %d for 12: it must not grow with the samples", p2, p12)
	}
	t.Logf("peak engine memory: %d bytes (2 samples), %d (12 samples)", p2, p12)
}

func fill(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// TestEvalNLLNICE: a flow's NLL is -mean LogDensity, which for NICE is
// (d/2) log 2π + ½‖f(x)‖² - Σs from Forward; bits/dim is NLL/(d ln 2).
func TestEvalNLLNICE(t *testing.T) {
	be := tensor.DefaultCPU()
	mm, err := models.Build(models.Spec{Kind: "nice", Options: map[string]any{"input_dim": 4, "hidden": 8, "coupling_layers": 3, "hidden_layers": 2}}, be, tensor.Float64, 7)
	if err != nil {
		t.Fatal(err)
	}
	nice := mm.(*models.NICE)
	scale := []float64{0.3, -0.2, 0.1, 0.5}
	tensor.WriteAs(nice.Scale().Value, scale)
	ds := evalGaussData(t, 37, []float64{0, 1, -1, 0.5}, []float64{1, 2, 0.5, 1}, 4)
	r, err := EvalNLL(nice, ds, EvalNLLOptions{BatchSize: 10}) // 4 calls, the last partial
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.FromFloat64s(be, tensor.Float64, tensor.Shape{37, 4}, float32To64(ds.Values()))
	tp := ad.NewTape(be)
	lp := nice.LogDensity(tp.Const(x)).Value().ToFloat64s()
	z := nice.Forward(tp.Const(x)).Value().ToFloat64s()
	want, fromZ := 0.0, 0.0
	for i, l := range lp {
		want -= l / 37
		n := 2 * math.Log(2*math.Pi)
		for _, v := range z[4*i : 4*i+4] {
			n += 0.5 * v * v
		}
		for _, v := range scale {
			n -= v
		}
		fromZ += n / 37
	}
	if !r.Exact || r.NLL.N != 37 || math.Abs(r.NLL.Mean-want) > 1e-12*math.Abs(want) || math.Abs(want-fromZ) > 1e-12*math.Abs(want) {
		t.Errorf("NICE NLL %+v; want %.15g (from z: %.15g)", r, want, fromZ)
	}
	if r.BitsPerDim != r.NLL.Mean/(4*math.Ln2) || r.BitsPerDimStdErr != r.NLL.StdErr/(4*math.Ln2) {
		t.Errorf("bits/dim %g ± %g for NLL %g ± %g", r.BitsPerDim, r.BitsPerDimStdErr, r.NLL.Mean, r.NLL.StdErr)
	}
	if _, err := EvalNLL(newEvalGauss([]float64{0}, []float64{1}), ds, EvalNLLOptions{}); err == nil || !strings.Contains(err.Error(), "no tractable likelihood") {
		t.Errorf("unnormalised energy: err = %v", err)
	}
}

func float32To64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// evalTinyDKEF builds a 2-D DKEF with the given α.
func evalTinyDKEF(t *testing.T, alpha []float64) *models.DKEF {
	t.Helper()
	be := tensor.DefaultCPU()
	m, err := models.Build(models.Spec{Kind: "dkef", Options: map[string]any{"input_dim": 2, "num_inducing": len(alpha), "feature_dim": 6}}, be, tensor.Float64, 3)
	if err != nil {
		t.Fatal(err)
	}
	dk := m.(*models.DKEF)
	dk.SetAlpha(tensor.FromFloat64s(be, tensor.Float64, tensor.Shape{len(alpha)}, alpha))
	return dk
}

// gridLogZ integrates p~ over [-L, L]² by the midpoint rule with step h.
// Kernels lie in (0, 1], so e^{-Σ|α|} ≤ p~/(8π N(0, 4I)) ≤ e^{Σ|α|}: the
// mass beyond L = 14 is below e^{2Σ|α| - 24.5} ≈ 4e-7 of Z for the α used.
// The integrand is smooth, so the rule converges fast: h = 0.14, 0.1 and
// 0.035 agree within 1e-5, far below the Monte-Carlo error compared with.
func gridLogZ(m *models.DKEF) float64 {
	const l, h = 14.0, 0.14
	k := int(2 * l / h)
	pts := make([]float64, 0, 2*k*k)
	for i := 0; i < k; i++ {
		for j := 0; j < k; j++ {
			pts = append(pts, -l+(float64(i)+0.5)*h, -l+(float64(j)+0.5)*h)
		}
	}
	be := tensor.DefaultCPU()
	tp := ad.NewTape(be)
	lp := m.LogDensity(tp.Const(tensor.FromFloat64s(be, tensor.Float64, tensor.Shape{k * k, 2}, pts))).Value().ToFloat64s()
	mx := math.Inf(-1)
	for _, v := range lp {
		mx = max(mx, v)
	}
	s := 0.0
	for _, v := range lp {
		s += math.Exp(v - mx)
	}
	return mx + math.Log(s*h*h)
}

// TestDKEFLogZ: the importance-sampled log Z of a tiny 2-D DKEF matches a
// fine grid integral of p~ within 5 Monte-Carlo standard errors; with α = 0,
// p~ is N(0, 4I) unnormalised, log Z = log 8π exactly and the weights are
// constant (standard error ~0).
func TestDKEFLogZ(t *testing.T) {
	m := evalTinyDKEF(t, []float64{1.2, -0.8, 0.5, -1.5, 0.9})
	o := EvalNLLOptions{NumSamples: 50_000, ChunkSize: 20_000, Seed: 11}
	z, se, err := DKEFLogZ(m, o)
	if err != nil {
		t.Fatal(err)
	}
	grid := gridLogZ(m)
	t.Logf("log Z: importance %.5f ± %.5f, grid %.7f", z, se, grid)
	if !(se > 0) || math.Abs(z-grid) > 5*se {
		t.Errorf("log Z %g ± %g, grid %g", z, se, grid)
	}
	ds := evalGaussData(t, 50, []float64{0, 0}, []float64{1, 1}, 5)
	r, err := EvalNLL(m, ds, o)
	if err != nil {
		t.Fatal(err)
	}
	lp := 0.0
	for _, v := range evalLogDensityAll(m, ds) {
		lp += v / 50
	}
	if r.Exact || r.LogZ != z || r.LogZStdErr != se || math.Abs(r.NLL.Mean-(z-lp)) > 1e-12*math.Abs(z-lp) {
		t.Errorf("DKEF NLL %+v; want log Z %g - mean log p~ %g", r, z, lp)
	}

	z0, se0, err := DKEFLogZ(evalTinyDKEF(t, make([]float64, 5)), EvalNLLOptions{NumSamples: 1000, ChunkSize: 300})
	if err != nil || math.Abs(z0-math.Log(8*math.Pi)) > 1e-12 || se0 > 1e-7 {
		t.Errorf("alpha = 0: log Z %.15g ± %g (err %v), want log 8π = %.15g ± 0", z0, se0, err, math.Log(8*math.Pi))
	}
	if _, _, err := DKEFLogZ(m, EvalNLLOptions{NumSamples: 1}); err == nil {
		t.Error("one importance sample: want an error")
	}
}

func evalLogDensityAll(e models.Energy, d *data.InMemory) []float64 {
	be := tensor.DefaultCPU()
	x := tensor.FromFloat64s(be, tensor.Float64, tensor.Shape{d.Len(), data.Numel(d)}, float32To64(d.Values()))
	return e.LogDensity(ad.NewTape(be).Const(x)).Value().ToFloat64s()
}

// TestEvalOODAUC: with in = out the statistic has one distribution and the
// AUC of 1000 vs 1000 batches has sd √(2001/(12·10⁶)) ≈ 0.013, so it lies
// within 0.05 of ½ (4 sd); with out = N(5,1)² against a Gaussian at 0 the
// energies do not overlap and the AUC exceeds 0.99.
func TestEvalOODAUC(t *testing.T) {
	m := newEvalGauss([]float64{0, 0}, []float64{1, 1})
	train := evalGaussData(t, 1000, []float64{0, 0}, []float64{1, 1}, 6)
	in := evalGaussData(t, 1000, []float64{0, 0}, []float64{1, 1}, 7)
	same, err := EvalOODAUC(m, train, in, in, OODOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(same-0.5) > 0.05 {
		t.Errorf("identical datasets: AUC %g, want 0.5 ± 0.05", same)
	}
	out := evalGaussData(t, 1000, []float64{5, 5}, []float64{1, 1}, 8)
	if far, err := EvalOODAUC(m, train, in, out, OODOptions{Seed: 1}); err != nil || far <= 0.99 {
		t.Errorf("disjoint datasets: AUC %g (err %v), want > 0.99", far, err)
	}
	if _, err := EvalOODAUC(m, evalGaussData(t, 50, []float64{0, 0}, []float64{1, 1}, 9), in, out, OODOptions{}); err == nil {
		t.Error("training set smaller than a reference batch: want an error")
	}
}

// TestAUC checks hand-computed cases (ties count ½) and, on random scores
// with many ties, the pairwise definition.
func TestAUC(t *testing.T) {
	for _, c := range []struct {
		pos, neg []float64
		want     float64
	}{
		{[]float64{3, 4}, []float64{1, 2}, 1},
		{[]float64{1}, []float64{2}, 0},
		{[]float64{2, 2}, []float64{2}, 0.5},
		{[]float64{1, 2}, []float64{2, 3}, 0.125},           // only (2,2): ½ of 4 pairs
		{[]float64{0.5, 3, 3}, []float64{1, 3, 5}, 1.0 / 3}, // each 3: 1 + ½ of 9
	} {
		if got := AUC(c.pos, c.neg); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("AUC(%v, %v) = %g, want %g", c.pos, c.neg, got, c.want)
		}
	}
	if !math.IsNaN(AUC(nil, []float64{1})) || !math.IsNaN(AUC([]float64{math.NaN()}, []float64{1})) {
		t.Error("empty side or NaN score: want NaN")
	}
	rng := tensor.NewRNG(2)
	pos, neg := make([]float64, 57), make([]float64, 43)
	for i := range pos {
		pos[i] = float64(rng.IntN(6))
	}
	for i := range neg {
		neg[i] = float64(rng.IntN(5))
	}
	u := 0.0
	for _, p := range pos {
		for _, n := range neg {
			switch {
			case p > n:
				u++
			case p == n:
				u += 0.5
			}
		}
	}
	if got, want := AUC(pos, neg), u/float64(57*43); math.Abs(got-want) > 1e-14 {
		t.Errorf("AUC = %.16g, pairwise %.16g", got, want)
	}
}

// TestEvalSubset: Floyd's draws are distinct and in range.
func TestEvalSubset(t *testing.T) {
	rng := tensor.NewRNG(3)
	for _, c := range [][2]int{{5, 5}, {10, 2}, {100, 37}} {
		seen := map[int]bool{}
		for _, i := range evalSubset(rng, c[0], c[1]) {
			if i < 0 || i >= c[0] || seen[i] {
				t.Fatalf("subset of %d from %d: bad or repeated index %d", c[1], c[0], i)
			}
			seen[i] = true
		}
		if len(seen) != c[1] {
			t.Fatalf("subset of %d from %d: got %d", c[1], c[0], len(seen))
		}
	}
}

// evalGaussScore is the score network of evalGauss's Gaussian at its last
// noise level, −(x − μ)/s², and twice that at its first: EvalSM must take
// the last (the model's estimate of the data's score).
type evalGaussScore struct{ g *evalGauss }

func (g evalGaussScore) Spec() models.Spec   { return models.Spec{Kind: "test-gauss-score"} }
func (g evalGaussScore) Params() []*ad.Param { return g.g.Params() }
func (g evalGaussScore) InputShape() []int   { return g.g.InputShape() }
func (g evalGaussScore) DType() tensor.DType { return tensor.Float64 }
func (g evalGaussScore) Levels() int         { return 2 }
func (g evalGaussScore) Score(x, y *ad.Var) *ad.Var {
	tp := x.Tape()
	lp := ad.Sum(g.g.LogDensity(x))
	s := ad.Grad([]*ad.Var{lp}, []*ad.Var{x}, ad.GradOptions{CreateGraph: true})[0]
	perLevel := ad.MatMul(y, tp.Const(tensor.FromFloat64s(tensor.DefaultCPU(), tensor.Float64, tensor.Shape{2, 1}, []float64{2, 1})), false, false)
	return ad.Mul(s, perLevel)
}

// TestEvalSMScoreNetwork: a score network's exact SM loss is ½‖s‖² + tr ∇s
// at its smallest noise level: for the Gaussian's score it equals the
// Gaussian energy's loss on the same samples (1e-12 relative: the same
// arithmetic).
func TestEvalSMScoreNetwork(t *testing.T) {
	mu, s := []float64{0.2, -0.5, 1}, []float64{1.5, 0.7, 1.2}
	ds := evalGaussData(t, 300, []float64{0.5, -1, 2}, []float64{1, 0.5, 2}, 4)
	want, err := EvalSM(newEvalGauss(mu, s), ds, EvalSMOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := EvalSM(evalGaussScore{newEvalGauss(mu, s)}, ds, EvalSMOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got.Mean-want.Mean) > 1e-12*math.Abs(want.Mean) {
		t.Errorf("score network %v, energy %v", got.Mean, want.Mean)
	}
}
