package objective

import (
	"math"
	"strings"
	"testing"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

var cpu = tensor.DefaultCPU()

func randT(seed uint64, dist tensor.Distribution, shape ...int) *tensor.Tensor {
	t := cpu.Empty(tensor.Float64, shape...)
	cpu.Random(t, dist, tensor.NewRNG(seed))
	return t
}

// sphereT returns rows of norm eps.
func sphereT(seed uint64, eps float64, n, d int) *tensor.Tensor {
	t := randT(seed, tensor.Normal(0, 1), n, d)
	v := t.Float64s()
	for i := 0; i < n; i++ {
		s := 0.0
		for j := 0; j < d; j++ {
			s += v[i*d+j] * v[i*d+j]
		}
		for j := 0; j < d; j++ {
			v[i*d+j] *= eps / math.Sqrt(s)
		}
	}
	return t
}

func smallMLP(t *testing.T) models.Energy {
	t.Helper()
	m, err := models.Build(models.Spec{Kind: "mlp", Options: map[string]any{"input_dim": 3, "hidden": []int{5, 4}}}, cpu, tensor.Float64, 4)
	if err != nil {
		t.Fatal(err)
	}
	return m.(models.Energy)
}

// evalLoss returns the loss, per-sample values and parameter gradients.
func evalLoss(t *testing.T, name string, o Options, m models.Model, b Batch) (float64, []float64, [][]float64) {
	t.Helper()
	obj, err := New(name, o)
	if err != nil {
		t.Fatal(err)
	}
	tp := ad.NewTape(cpu)
	defer tp.Reset()
	r, err := obj.Eval(tp, m, b, tensor.NewRNG(9))
	if err != nil {
		t.Fatal(err)
	}
	var ps []*ad.Var
	for _, p := range m.Params() {
		ps = append(ps, tp.Param(p))
	}
	var gs [][]float64
	for _, g := range ad.Grad([]*ad.Var{r.Loss}, ps, ad.GradOptions{}) {
		gs = append(gs, g.Value().ToFloat64s())
	}
	return r.Loss.Item(), r.PerSample.Value().ToFloat64s(), gs
}

var energyObjectives = []string{"sm", "ssm", "ssmvr", "dsm", "mdsm", "fd-ssm", "fd-dsm", "fd-mdsm"}

// TestPartitionInvariance: adding a constant to log p~ changes no
// objective's loss or parameter gradient. The FD forms cancel the constant
// algebraically; in float64 the rounding of c = 5.3 leaves at most ~1e-15
// of it, far below the 1e-9 relative tolerance.
func TestPartitionInvariance(t *testing.T) {
	m := smallMLP(t)
	b := Batch{X: randT(1, tensor.Normal(0, 1), 4, 3), V: sphereT(2, 0.1, 4, 3), Noise: randT(3, tensor.Normal(0, 1), 4, 3)}
	for _, name := range energyObjectives {
		l0, _, g0 := evalLoss(t, name, Options{}, m, b)
		l1, _, g1 := evalLoss(t, name, Options{}, modelWith{m, 5.3}, b)
		if !close(l0, l1, 1e-9) {
			t.Errorf("%s: loss %v becomes %v with a constant added", name, l0, l1)
		}
		for i := range g0 {
			for j := range g0[i] {
				if !close(g0[i][j], g1[i][j], 1e-9) {
					t.Errorf("%s: gradient %d[%d] %v becomes %v", name, i, j, g0[i][j], g1[i][j])
					break
				}
			}
		}
	}
}

// modelWith is a models.Model whose log density is shifted by c.
type modelWith struct {
	models.Energy
	c float64
}

func (s modelWith) LogDensity(x *ad.Var) *ad.Var { return ad.AddScalar(s.Energy.LogDensity(x), s.c) }

func close(a, b, rel float64) bool {
	return math.Abs(a-b) <= rel*math.Max(1e-12, math.Max(math.Abs(a), math.Abs(b)))
}

// TestSMAgainstCentralDifferences: the exact SM value 0.5‖g‖² + tr(H) equals
// the same quantity from float64 finite differences of log p, with the
// fourth-order five-point stencils g ≈ (f₋₂ − 8f₋₁ + 8f₁ − f₂)/12h and
// f” ≈ (−f₋₂ + 16f₋₁ − 30f₀ + 16f₁ − f₂)/12h² at h = 1e-3. Their truncation
// (h⁴·f⁽⁶⁾/90 ≈ 1e-14) is negligible; rounding is not: each f carries
// ε|f| (ε = 2⁻⁵²), so f” errs by up to 64ε|f|/12h² ≈ 1.2e-9·|f| per
// coordinate, and the SM value (about 6e-3 here, far smaller than |f|) by
// d times that. The tolerance is three times that bound plus 1e-9 relative:
// a wrong Hessian trace or gradient (errors of the size of the value) fails.
func TestSMAgainstCentralDifferences(t *testing.T) {
	m := smallMLP(t)
	x := randT(5, tensor.Normal(0, 1), 3, 3)
	_, per, _ := evalLoss(t, "sm", Options{}, m, Batch{X: x})
	logp := func(row []float64) float64 {
		tp := ad.NewTape(cpu)
		defer tp.Reset()
		return m.LogDensity(tp.Const(tensor.FromFloat64s(cpu, tensor.Float64, tensor.Shape{1, 3}, row))).Item()
	}
	const h, d, eps = 1e-3, 3, 0x1p-52
	xs := x.Float64s()
	for i := 0; i < 3; i++ {
		row := append([]float64(nil), xs[i*3:i*3+3]...)
		f0 := logp(row)
		at := func(j int, k float64) float64 {
			r := append([]float64(nil), row...)
			r[j] += k * h
			return logp(r)
		}
		want := 0.0
		for j := 0; j < d; j++ {
			fm2, fm1, fp1, fp2 := at(j, -2), at(j, -1), at(j, 1), at(j, 2)
			g := (fm2 - 8*fm1 + 8*fp1 - fp2) / (12 * h)
			want += 0.5*g*g + (-fm2+16*fm1-30*f0+16*fp1-fp2)/(12*h*h)
		}
		tol := 3*d*64*eps*math.Abs(f0)/(12*h*h) + 1e-9*math.Abs(want)
		if diff := math.Abs(per[i] - want); diff > tol {
			t.Errorf("sample %d: sm %v, finite differences %v (|f| %.3g): differ by %.3g > %.3g", i, per[i], want, f0, diff, tol)
		}
	}
}

// TestObjectiveGradients: d loss/dθ of every energy objective against
// float64 central differences (CheckParamGrad's tolerances); the exact
// objectives differentiate third-order quantities here.
func TestObjectiveGradients(t *testing.T) {
	m := smallMLP(t)
	b := Batch{X: randT(6, tensor.Normal(0, 1), 3, 3), V: sphereT(7, 0.1, 3, 3), Noise: randT(8, tensor.Normal(0, 1), 3, 3)}
	for _, name := range energyObjectives {
		// The multiscale forms' default target scale s0 = 0.1 makes the loss
		// ~1e4 times its gradients, so central differences would lose about
		// 1e-7 to rounding; s0 = 1 keeps them well-conditioned.
		obj, err := New(name, Options{S0: 1})
		if err != nil {
			t.Fatal(err)
		}
		f := func(tp *ad.Tape) *ad.Var {
			r, err := obj.Eval(tp, m, b, tensor.NewRNG(1))
			if err != nil {
				panic(err)
			}
			return r.Loss
		}
		if err := ad.CheckParamGrad(cpu, f, m.Params(), ad.CheckOptions{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestObjectiveErrors(t *testing.T) {
	if _, err := New("ssm2", Options{}); err == nil || !strings.Contains(err.Error(), "fd-ssm") {
		t.Errorf("unknown objective: %v", err)
	}
	if _, err := New("ssm", Options{Projection: "cube"}); err == nil || !strings.Contains(err.Error(), "rademacher") {
		t.Errorf("bad projection: %v", err)
	}
	m := smallMLP(t)
	obj, _ := New("fd-ssm", Options{})
	tp := ad.NewTape(cpu)
	if _, err := obj.Eval(tp, m, Batch{X: randT(1, tensor.Normal(0, 1), 2, 4)}, tensor.NewRNG(1)); err == nil || !strings.Contains(err.Error(), "[2 4]") {
		t.Errorf("wrong x shape: %v", err)
	}
	if _, err := obj.Eval(tp, m, Batch{X: randT(1, tensor.Normal(0, 1), 2, 3), V: randT(1, tensor.Normal(0, 1), 3, 3)}, tensor.NewRNG(1)); err == nil || !strings.Contains(err.Error(), "directions") {
		t.Errorf("wrong v shape: %v", err)
	}
	fdv, _ := New("fd-ssmvr", Options{})
	if _, err := fdv.Eval(tp, m, Batch{X: randT(1, tensor.Normal(0, 1), 2, 3)}, tensor.NewRNG(1)); err == nil || !strings.Contains(err.Error(), "score network") {
		t.Errorf("fd-ssmvr on an energy: %v", err)
	}
}

// TestSigmaSpacing: MDSM spreads its noise levels over the batch linearly
// (the reference's linspace) or geometrically (np.geomspace: a constant
// ratio); bad spacings and ranges are errors.
func TestSigmaSpacing(t *testing.T) {
	x := randT(1, tensor.Normal(0, 1), 3, 3)
	for _, tc := range []struct {
		spacing string
		want    []float64
	}{
		{"", []float64{0.05, 0.625, 1.2}},
		{"linear", []float64{0.05, 0.625, 1.2}},
		{"geometric", []float64{0.05, math.Sqrt(0.05 * 1.2), 1.2}},
	} {
		o, err := New("mdsm", Options{SigmaSpacing: tc.spacing})
		if err != nil {
			t.Fatal(err)
		}
		got := o.(dsm).sigmas(Batch{X: x})
		for i := range got {
			if math.Abs(got[i]-tc.want[i]) > 1e-15 {
				t.Errorf("spacing %q: sigmas %v, want %v", tc.spacing, got, tc.want)
				break
			}
		}
	}
	for _, bad := range []Options{{SigmaSpacing: "log"}, {SigmaMin: 2, SigmaMax: 1}, {SigmaMin: -0.1}} {
		if _, err := New("mdsm", bad); err == nil {
			t.Errorf("options %+v: no error", bad)
		}
	}
}
