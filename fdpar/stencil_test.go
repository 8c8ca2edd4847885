package fdpar

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// ridge is one factor g(a·x + c) of a test function f(x) = Π_j g_j(a_j·x + c_j).
// Its directional derivatives are exact: the m-th derivative of g_j(a_j·x+c_j)
// along v is (a_j·v)^m g_j^{(m)}(a_j·x + c_j), and the product rule gives
// (vᵀ∇)^T f = Σ_{m_1+..+m_J=T} T!/Π m_j! · Π_j (a_j·v)^{m_j} g_j^{(m_j)}.
type ridge struct {
	a    []float64
	c    float64
	kind string // "sin", "exp" or "pow"
	p    int    // power for "pow"
}

// deriv returns g^{(m)}(s).
func (r ridge) deriv(m int, s float64) float64 {
	switch r.kind {
	case "sin":
		return math.Sin(s + float64(m)*math.Pi/2)
	case "exp":
		return math.Exp(s)
	default: // s^p
		if m > r.p {
			return 0
		}
		return factorial(r.p) / factorial(r.p-m) * math.Pow(s, float64(r.p-m))
	}
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

type testFunc []ridge

func (f testFunc) value(x []float64) float64 {
	p := 1.0
	for _, r := range f {
		p *= r.deriv(0, dot(r.a, x)+r.c)
	}
	return p
}

// envelope bounds |f| near y including the effect of rounding the
// arguments: Π_j |g_j|max · (1 + |a_j·y + c_j|), with |sin| <= 1, e^s, and
// (1+|s|)^p. It scales the round-off estimate where f itself is near 0.
func (f testFunc) envelope(y []float64) float64 {
	p := 1.0
	for _, r := range f {
		s := dot(r.a, y) + r.c
		switch r.kind {
		case "exp":
			p *= math.Exp(s)
		case "pow":
			p *= math.Pow(1+math.Abs(s), float64(r.p))
		}
		p *= 1 + math.Abs(s)
	}
	return p
}

// dir returns (vᵀ∇)^T f(x) exactly by the product rule over the factors.
func (f testFunc) dir(x, v []float64, order int) float64 {
	if len(f) == 0 {
		if order == 0 {
			return 1
		}
		return 0
	}
	r, av, s := f[0], dot(f[0].a, v), dot(f[0].a, x)+f[0].c
	sum := 0.0
	for m := 0; m <= order; m++ {
		binom := factorial(order) / (factorial(m) * factorial(order-m))
		sum += binom * math.Pow(av, float64(m)) * r.deriv(m, s) * f[1:].dir(x, v, order-m)
	}
	return sum
}

// along returns γ ↦ f(x + γ·eps·u).
func (f testFunc) along(x, u []float64, eps float64) func(float64) float64 {
	y := make([]float64, len(x))
	return func(g float64) float64 {
		for i := range x {
			y[i] = x[i] + g*eps*u[i]
		}
		return f.value(y)
	}
}

func randVec(rng *rand.Rand, d int, scale float64) []float64 {
	v := make([]float64, d)
	for i := range v {
		v[i] = scale * (2*rng.Float64() - 1)
	}
	return v
}

func unitVec(rng *rand.Rand, d int) []float64 {
	v := randVec(rng, d, 1)
	n := math.Sqrt(dot(v, v))
	for i := range v {
		v[i] /= n
	}
	return v
}

// analytic returns smooth test functions of x ∈ R^d: exp(a·x), a product
// of sines Π sin(b_j x_j + c_j) (one factor per coordinate), and exp·sin.
// The ridge directions are tilted so that |a·u| is in [0.8, 1.2] along the
// test direction u (|a·u| sets the scale of ε): otherwise the derivatives along u can be tiny next to
// L itself and round-off, not the stencil, would set the error.
func analytic(rng *rand.Rand, d int, u []float64) map[string]testFunc {
	tilt := func(a []float64) []float64 {
		target := (0.8 + 0.4*rng.Float64()) * float64(1-2*rng.IntN(2))
		c := target - dot(a, u)
		for i := range a {
			a[i] += c * u[i]
		}
		return a
	}
	sines := testFunc{}
	for j := 0; j < d; j++ {
		a := make([]float64, d)
		a[j] = 0.5 + rng.Float64()
		sines = append(sines, ridge{a: a, c: rng.Float64(), kind: "sin"})
	}
	return map[string]testFunc{
		"exp":     {{a: tilt(randVec(rng, d, 1)), kind: "exp"}},
		"sines":   sines,
		"exp*sin": {{a: tilt(randVec(rng, d, 0.7)), kind: "exp"}, {a: tilt(randVec(rng, d, 1)), c: 0.3, kind: "sin"}},
	}
}

// polynomial returns Π_j (a_j·x + c_j)^{p_j} of total degree deg.
func polynomial(rng *rand.Rand, d, deg int) testFunc {
	var f testFunc
	for deg > 0 {
		p := min(deg, 1+rng.IntN(3))
		f = append(f, ridge{a: randVec(rng, d, 1), c: rng.Float64(), kind: "pow", p: p})
		deg -= p
	}
	return f
}

// TestDirSelfCheck validates the test's exact derivatives against nested
// central differences of the order-1 rule (independent of the stencils):
// (vᵀ∇)^{T} f ≈ [(vᵀ∇)^{T-1} f(x+hv) - (vᵀ∇)^{T-1} f(x-hv)]/(2h), error
// O(h²) ≈ 1e-8 relative with h = 1e-4, so the tolerance is 1e-6 (scaled).
func TestDirSelfCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, d := range []int{1, 3, 5} {
		x, v := randVec(rng, d, 1), unitVec(rng, d)
		fs := analytic(rng, d, v)
		fs["poly"] = polynomial(rng, d, 6)
		for name, f := range fs {
			for order := 1; order <= 8; order++ {
				h := 1e-4
				xp, xm := make([]float64, d), make([]float64, d)
				for i := range x {
					xp[i], xm[i] = x[i]+h*v[i], x[i]-h*v[i]
				}
				num := (f.dir(xp, v, order-1) - f.dir(xm, v, order-1)) / (2 * h)
				got := f.dir(x, v, order)
				if math.Abs(num-got) > 1e-6*(1+math.Abs(got)) {
					t.Errorf("d=%d %s order %d: exact %g, central difference %g", d, name, order, got, num)
				}
			}
		}
	}
}

func TestEq8(t *testing.T) {
	for _, c := range []struct {
		order   int
		offsets []float64
		weights []float64
	}{
		{1, []float64{1, -1}, []float64{0.5, -0.5}},
		{2, []float64{1, -1, 0}, []float64{1, 1, -2}},
	} {
		s, err := Theorem1(c.order, []float64{1})
		if err != nil {
			t.Fatal(err)
		}
		if s.Order != c.order || !equal(s.Offsets, c.offsets) || !equal(s.Weights, c.weights) {
			t.Errorf("Theorem1(%d, {1}) = %+v; want offsets %v weights %v (Eq. (8))", c.order, s, c.offsets, c.weights)
		}
	}
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type alphaSet struct {
	name   string
	alphas []float64
}

// alphaSets returns K distinct positive alphas in several flavours: 1..K,
// evenly spread from 0.5, and unevenly spread in descending order.
func alphaSets(k int) []alphaSet {
	ints, spread, shuffled := make([]float64, k), make([]float64, k), make([]float64, k)
	for i := range k {
		ints[i] = float64(i + 1)
		spread[i] = 0.5 + 0.75*float64(i)
		shuffled[k-1-i] = 0.3 + 0.6*float64(i)*float64(i+1)/2 + 0.2*float64(i)
	}
	return []alphaSet{{"k", ints}, {"spread", spread}, {"shuffled", shuffled}}
}

// TestMoments checks every stencil against the conditions that define it,
// m_t = Σ wᵢγᵢ^t = T!·δ_{tT} for t below the stencil's exactness degree, and
// Theorem1's β against a Gaussian-elimination solve of Vᵀβ = e_K. The
// tolerance 1e-9 relative to Σ|wᵢ||γᵢ|^t covers the rounding of sums of
// up to ~10 terms of factorial size.
func TestMoments(t *testing.T) {
	check := func(name string, s Stencil, upto int) {
		t.Helper()
		for tt := 0; tt <= upto; tt++ {
			m, scale := moment(s, tt)
			want := 0.0
			if tt == s.Order {
				want = factorial(s.Order)
			}
			if math.Abs(m-want) > 1e-9*(scale+want) {
				t.Errorf("%s: moment %d = %g, want %g", name, tt, m, want)
			}
		}
	}
	for order := 1; order <= 8; order++ {
		k := (order + 1) / 2
		for _, as := range alphaSets(k) {
			an, alphas := as.name, as.alphas
			s, err := Theorem1(order, alphas)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Offsets) != order+1 {
				t.Errorf("Theorem1(%d): %d offsets, want T+1", order, len(s.Offsets))
			}
			check("Theorem1 "+an, s, order+1) // m_{T+1} = 0 by symmetry
			// the paper's β construction and the divided differences agree
			if l := mustLemma1(t, order, s.Offsets); !closeSlices(s.Weights, l.Weights, 1e-10) {
				t.Errorf("Theorem1(%d, %v) weights %v; Lemma1 on its offsets %v", order, alphas, s.Weights, l.Weights)
			}
			beta := gaussSolveVT(alphas)
			for i, a := range alphas {
				// recover β from the weight at +α: T!/2·β·α^{-2} (even) or ^{-1} (odd)
				p := 2 - order%2
				for j, g := range s.Offsets {
					if g == a {
						got := s.Weights[j] * math.Pow(a, float64(p)) * 2 / factorial(order)
						if math.Abs(got-beta[i]) > 1e-9*math.Abs(beta[i]) {
							t.Errorf("Theorem1(%d, %v): β_%d = %g, Gaussian elimination %g", order, alphas, i, got, beta[i])
						}
					}
				}
			}
		}
		check("Lemma1", mustLemma1(t, order, genericGammas(order)), order)
		for n := 1; n <= 4; n++ {
			s, err := HigherAccuracy(order, n)
			if err != nil {
				t.Fatal(err)
			}
			check("HigherAccuracy", s, order+n-1+n%2)
		}
		if d, h := Default(order), mustHA(t, order, 1); !closeSlices(d.Offsets, h.Offsets, 0) || !closeSlices(d.Weights, h.Weights, 1e-12) {
			t.Errorf("Default(%d) = %+v; HigherAccuracy(%d, 1) = %+v", order, d, order, h)
		}
	}
}

// gaussSolveVT solves Vᵀβ = e_K, V_ij = α_i^{2j-2}, by Gaussian elimination
// with partial pivoting (the paper's definition, independent of the closed
// form Theorem1 uses).
func gaussSolveVT(alphas []float64) []float64 {
	k := len(alphas)
	a := make([][]float64, k) // augmented [Vᵀ | e_K]
	for j := range k {
		a[j] = make([]float64, k+1)
		for i, al := range alphas {
			a[j][i] = math.Pow(al, float64(2*j))
		}
	}
	a[k-1][k] = 1
	for c := range k {
		p := c
		for r := c + 1; r < k; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[p][c]) {
				p = r
			}
		}
		a[c], a[p] = a[p], a[c]
		for r := c + 1; r < k; r++ {
			f := a[r][c] / a[c][c]
			for q := c; q <= k; q++ {
				a[r][q] -= f * a[c][q]
			}
		}
	}
	x := make([]float64, k)
	for r := k - 1; r >= 0; r-- {
		s := a[r][k]
		for q := r + 1; q < k; q++ {
			s -= a[r][q] * x[q]
		}
		x[r] = s / a[r][r]
	}
	return x
}

func closeSlices(a, b []float64, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol*(1+math.Abs(b[i])) {
			return false
		}
	}
	return true
}

// genericGammas returns T+1 distinct, asymmetric offsets in [-1.3, 1.6].
func genericGammas(order int) []float64 {
	g := make([]float64, order+1)
	for i := range g {
		g[i] = -1.3 + 2.9*float64(i)/float64(order) + 0.05*float64(i%2)
	}
	g[0] = 0.1 // keep an asymmetric, zero-free set: moment T+1 stays nonzero
	return g
}

func mustLemma1(t *testing.T, order int, g []float64) Stencil {
	t.Helper()
	s, err := Lemma1(order, g)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustHA(t *testing.T, order, n int) Stencil {
	t.Helper()
	s, err := HigherAccuracy(order, n)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestInvalid(t *testing.T) {
	for _, c := range []struct {
		name string
		err  func() error
		want string
	}{
		{"order 0", func() error { _, e := Theorem1(0, nil); return e }, "order >= 1"},
		{"negative order", func() error { _, e := Theorem1(-1, []float64{1}); return e }, "order >= 1"},
		{"too few", func() error { _, e := Theorem1(3, []float64{1}); return e }, "needs K"},
		{"too many", func() error { _, e := Theorem1(2, []float64{1, 2}); return e }, "needs K"},
		{"repeated", func() error { _, e := Theorem1(4, []float64{2, 2}); return e }, "repeated"},
		{"zero alpha", func() error { _, e := Theorem1(1, []float64{0}); return e }, "positive"},
		{"negative alpha", func() error { _, e := Theorem1(3, []float64{1, -2}); return e }, "positive"},
		{"NaN alpha", func() error { _, e := Theorem1(1, []float64{math.NaN()}); return e }, "positive"},
		{"Inf alpha", func() error { _, e := Theorem1(1, []float64{math.Inf(1)}); return e }, "positive"},
		{"Lemma1 order 0", func() error { _, e := Lemma1(0, []float64{1}); return e }, "order >= 1"},
		{"Lemma1 count", func() error { _, e := Lemma1(2, []float64{0, 1}); return e }, "needs T+1"},
		{"Lemma1 repeated", func() error { _, e := Lemma1(2, []float64{0, 1, 0}); return e }, "repeated"},
		{"Lemma1 ±0", func() error { _, e := Lemma1(1, []float64{0, math.Copysign(0, -1)}); return e }, "repeated"},
		{"Lemma1 NaN", func() error { _, e := Lemma1(1, []float64{0, math.NaN()}); return e }, "finite"},
		{"HigherAccuracy order 0", func() error { _, e := HigherAccuracy(0, 1); return e }, "order >= 1"},
		{"HigherAccuracy N 0", func() error { _, e := HigherAccuracy(2, 0); return e }, "N >= 1"},
	} {
		err := c.err()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v; want one mentioning %q", c.name, err, c.want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Default(0) did not panic")
		}
	}()
	Default(0)
}

// relErr returns |Σ w L(x + γ ε u) / ε^T - (uᵀ∇)^T L(x)|, the error in
// ∂^T L/∂v^T for v = ε u, ‖u‖ = 1.
func relErr(s Stencil, f testFunc, x, u []float64, eps float64) float64 {
	return math.Abs(s.Apply(f.along(x, u, eps))/math.Pow(eps, float64(s.Order)) - f.dir(x, u, s.Order))
}

// slope fits log err = p log ε + c by least squares.
func slope(eps, errs []float64) float64 {
	var sx, sy, sxx, sxy float64
	n := float64(len(eps))
	for i := range eps {
		lx, ly := math.Log(eps[i]), math.Log(errs[i])
		sx, sy, sxx, sxy = sx+lx, sy+ly, sxx+lx*lx, sxy+lx*ly
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

// roundoff estimates the float64 rounding of the estimate in ∂^T L/∂v^T
// units: 8 ulp of Σᵢ |wᵢ|·envelope(x+γᵢv) (each L is within a few ulp of
// its envelope, rounding x+γᵢv perturbs it by about as much, the sum adds
// an ulp), divided by ε^T.
func roundoff(s Stencil, f testFunc, x, u []float64, eps float64) float64 {
	sum, y := 0.0, make([]float64, len(x))
	for i, g := range s.Offsets {
		for j := range x {
			y[j] = x[j] + g*eps*u[j]
		}
		sum += math.Abs(s.Weights[i]) * f.envelope(y)
	}
	return 8 * 0x1p-52 * sum / math.Pow(eps, float64(s.Order))
}

// moment returns m_t = Σᵢ wᵢ γᵢ^t and the scale Σᵢ |wᵢ γᵢ^t| of its rounding.
func moment(s Stencil, t int) (m, scale float64) {
	for i, g := range s.Offsets {
		m += s.Weights[i] * math.Pow(g, float64(t))
		scale += math.Abs(s.Weights[i] * math.Pow(g, float64(t)))
	}
	return m, scale
}

// observedRate fits the log-log slope of the error over ε = 0.5·2^{-k/4}
// (four points per halving). Taylor's expansion predicts the error
// exactly: Σ_{t>T} m_t/t! · (uᵀ∇)^t L · ε^{t-T}. The first nonzero term
// (t = T+p) is the leading one; ε is kept where (a) the next 6 orders sum
// to <= 5% of it (asymptotic regime, computed with the exact derivatives)
// and (b) the error exceeds 30× the round-off estimate. The window must
// span at least one halving of ε with >= 5 points (for T = 8 with wide
// alphas, (a) and (b) leave little more); the <= 8% perturbations then move
// the slope by at most ln(1.08)/ln(2) ≈ 0.11. lead reports the predicted
// leading term so the caller can also check the constant.
func observedRate(s Stencil, f testFunc, x, u []float64) (rate float64, eps, errs, lead []float64, ok bool) {
	T := s.Order
	var coef []float64 // coef[j] = m_{T+1+j}/(T+1+j)! · (uᵀ∇)^{T+1+j} L
	first := -1
	for j := 0; j < 12 && (first < 0 || j <= first+6); j++ {
		m, scale := moment(s, T+1+j)
		if math.Abs(m) <= 1e-9*scale {
			m = 0 // vanishes exactly; what is left is rounding
		}
		coef = append(coef, m/factorial(T+1+j)*f.dir(x, u, T+1+j))
		if first < 0 && m != 0 {
			first = j
		}
	}
	for k := 0; k < 80 && first >= 0; k++ {
		e := 0.5 * math.Pow(2, -float64(k)/4)
		l := math.Abs(coef[first]) * math.Pow(e, float64(first+1))
		rest := 0.0
		for j := first + 1; j < len(coef); j++ {
			rest += math.Abs(coef[j]) * math.Pow(e, float64(j+1))
		}
		err := relErr(s, f, x, u, e)
		if err <= 30*roundoff(s, f, x, u, e) {
			break // smaller ε only get worse
		}
		if rest <= 0.05*l {
			eps, errs, lead = append(eps, e), append(errs, err), append(lead, l)
		}
	}
	if len(eps) < 5 || eps[0]/eps[len(eps)-1] < 2-1e-9 {
		return 0, eps, errs, lead, false
	}
	return slope(eps, errs), eps, errs, lead, true
}

type rateCase struct {
	name string
	s    Stencil
	want float64 // predicted order of the error in ∂^T L/∂v^T
}

func rateCases(t *testing.T) []rateCase {
	var cs []rateCase
	for order := 1; order <= 8; order++ {
		for _, as := range alphaSets((order + 1) / 2) {
			s, err := Theorem1(order, as.alphas)
			if err != nil {
				t.Fatal(err)
			}
			cs = append(cs, rateCase{fmt.Sprintf("Theorem1(T=%d, %s)", order, as.name), s, 2})
		}
		// An asymmetric stencil's O(ε) term dominates the O(ε²) one only
		// for ε below ~1/T, and for T >= 6 that is under the round-off floor.
		if order <= 5 {
			cs = append(cs, rateCase{fmt.Sprintf("Lemma1(T=%d, shifted)", order), mustLemma1(t, order, shiftedGammas(order)), 1})
		}
		if order <= 3 { // the irregular set's close nodes: larger weights, higher floor
			cs = append(cs, rateCase{fmt.Sprintf("Lemma1(T=%d, irregular)", order), mustLemma1(t, order, genericGammas(order)), 1})
		}
		cs = append(cs, rateCase{fmt.Sprintf("Lemma1(T=%d, symmetric)", order), mustLemma1(t, order, symmetricGammas(order)), 2})
	}
	for order := 1; order <= 4; order++ {
		for n := 1; n <= 4; n++ {
			cs = append(cs, rateCase{fmt.Sprintf("HigherAccuracy(T=%d, N=%d)", order, n), mustHA(t, order, n), float64(n + n%2)})
		}
	}
	return cs
}

// shiftedGammas returns the asymmetric grid i - T/2 + 1/2, i = 0..T: unit
// spacing keeps the weights small, the shift makes m_{T+1} ≠ 0 (O(ε)).
func shiftedGammas(order int) []float64 {
	g := make([]float64, order+1)
	for i := range g {
		g[i] = float64(i) - float64(order)/2 + 0.5
	}
	return g
}

// symmetricGammas returns T+1 non-integer offsets symmetric about 0.
func symmetricGammas(order int) []float64 {
	var g []float64
	for k := 1; k <= (order+1)/2; k++ {
		g = append(g, 0.7*float64(k)+0.1*float64(k*k), -(0.7*float64(k) + 0.1*float64(k*k)))
	}
	if order%2 == 0 {
		g = append(g, 0)
	}
	return g
}

// TestRates checks that the error in ∂^T L/∂v^T falls at the predicted
// rate as ε halves: the fitted log-log slope is within ±0.3 of it
// (Theorem1 and symmetric Lemma1: 2; generic Lemma1: 1; HigherAccuracy:
// N rounded up to even), on exp, sines and exp·sin in d = 1, 3, 5. Within
// the window the error must also match the predicted leading term to 10%
// (5% from the neglected orders, 3% from round-off, margin). A point x
// where the leading derivative nearly vanishes has no asymptotic window
// above round-off (the rate there is higher); then up to 8 other x are
// tried, and the number of such retries is bounded.
func TestRates(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	cases, retries, total := rateCases(t), 0, 0
	seen := map[string][2]float64{} // observed rate range per stencil
	for _, d := range []int{1, 3, 5} {
		u := unitVec(rng, d)
		fs := analytic(rng, d, u)
		for _, fname := range []string{"exp", "sines", "exp*sin"} {
			f := fs[fname]
			for _, c := range cases {
				total++
				var rate float64
				var eps, errs, lead []float64
				ok := false
				for try := 0; try < 9 && !ok; try++ {
					retries += min(try, 1)
					rate, eps, errs, lead, ok = observedRate(c.s, f, randVec(rng, d, 1), u)
				}
				if !ok {
					t.Errorf("d=%d %s %s: no usable ε window (ε %.3g, errors %.3g)", d, fname, c.name, eps, errs)
					continue
				}
				if math.Abs(rate-c.want) > 0.3 {
					t.Errorf("d=%d %s %s: rate %.2f, want %g (ε %.3g, errors %.3g)", d, fname, c.name, rate, c.want, eps, errs)
				}
				for i := range eps {
					if r := errs[i] / lead[i]; r < 0.9 || r > 1.1 {
						t.Errorf("d=%d %s %s: ε=%.3g error %.3g, predicted leading term %.3g", d, fname, c.name, eps[i], errs[i], lead[i])
					}
				}
				r := seen[c.name]
				if r == [2]float64{} {
					r = [2]float64{rate, rate}
				}
				seen[c.name] = [2]float64{min(r[0], rate), max(r[1], rate)}
			}
		}
	}
	for _, c := range cases {
		t.Logf("%-28s predicted %g, observed %.2f..%.2f", c.name, c.want, seen[c.name][0], seen[c.name][1])
	}
	t.Logf("%d cases, %d retried at another x", total, retries)
	if retries > total/10 {
		t.Errorf("%d of %d cases needed another x; expected rare", retries, total)
	}
}

// TestPolynomialExact checks exactness where the moments say so, at ε = 1
// so the offsets are used as they are: Lemma1 on degree <= T, Theorem1 on
// degree <= T+1 (symmetry), HigherAccuracy(T, N) on degree <= T+N-1+N%2;
// and that one degree more is not exact (the bound is tight). Tolerance:
// 100× the round-off estimate (at ε = 1 about 1e-13 relative), far below
// the >= 1e-3 relative error of the inexact case.
func TestPolynomialExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	type exactCase struct {
		name string
		s    Stencil
		deg  int
	}
	var cs []exactCase
	for order := 1; order <= 8; order++ {
		for _, as := range alphaSets((order + 1) / 2) {
			s, _ := Theorem1(order, as.alphas)
			cs = append(cs, exactCase{"Theorem1 " + as.name, s, order + 1})
		}
		cs = append(cs, exactCase{"Lemma1", mustLemma1(t, order, genericGammas(order)), order})
		for n := 1; n <= 3 && order <= 5; n++ {
			cs = append(cs, exactCase{fmt.Sprintf("HigherAccuracy N=%d", n), mustHA(t, order, n), order + n - 1 + n%2})
		}
	}
	for _, d := range []int{1, 3, 5} {
		x, u := randVec(rng, d, 0.5), unitVec(rng, d)
		for _, c := range cs {
			T := c.s.Order
			for deg := 0; deg <= c.deg+1; deg++ {
				f := polynomial(rng, d, deg)
				L := f.along(x, u, 1)
				got, want := c.s.Apply(L), f.dir(x, u, T)
				err, tol := math.Abs(got-want), 1e2*roundoff(c.s, f, x, u, 1)
				if deg <= c.deg && err > tol {
					t.Errorf("d=%d %s T=%d: degree %d: %g, exact %g (tolerance %g)", d, c.name, T, deg, got, want, tol)
				}
				if deg == c.deg+1 && err < 1e-3*math.Abs(f.dir(x, u, deg)) {
					t.Errorf("d=%d %s T=%d: degree %d (beyond the bound) unexpectedly exact: %g vs %g", d, c.name, T, deg, got, want)
				}
			}
		}
	}
}

// TestDefaultClassic pins Default to the classic central differences, whose
// integer weights must come out exactly.
func TestDefaultClassic(t *testing.T) {
	for _, c := range []struct {
		order   int
		weights []float64 // at +1, -1, +2, -2, ..., (0)
	}{
		{3, []float64{-1, 1, 0.5, -0.5}},
		{4, []float64{-4, -4, 1, 1, 6}},
		{8, []float64{-56, -56, 28, 28, -8, -8, 1, 1, 70}},
	} {
		if s := Default(c.order); !equal(s.Weights, c.weights) {
			t.Errorf("Default(%d) weights %v, want %v", c.order, s.Weights, c.weights)
		}
	}
}
