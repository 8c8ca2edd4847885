package fdpar

import (
	"fmt"
	"math"
	"testing"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

const (
	planRows = 4 // n: samples per block
	planDim  = 3 // features of x
	planHid  = 5 // columns of W
)

// planSetup returns a tape, x [n, d] and a weight leaf W [d, h] (float64).
func planSetup(seed uint64) (*ad.Tape, *ad.Var, *ad.Var) {
	be := tensor.DefaultCPU()
	tp := ad.NewTape(be)
	rng := tensor.NewRNG(seed)
	x := tp.Random(tensor.Float64, tensor.Normal(0, 1), rng, planRows, planDim)
	w := tp.Random(tensor.Float64, tensor.Normal(0, 0.7), rng, planDim, planHid)
	return tp, tp.Leaf(x.Value()), tp.Leaf(w.Value())
}

// direction returns v [n, d] whose rows have norm eps (fixed pattern so
// different eps give parallel directions).
func direction(tp *ad.Tape, eps float64) *ad.Var {
	data := make([]float64, planRows*planDim)
	for i := range planRows {
		norm := 0.0
		for j := range planDim {
			data[i*planDim+j] = math.Sin(float64(3*i + 7*j + 1))
			norm += data[i*planDim+j] * data[i*planDim+j]
		}
		for j := range planDim {
			data[i*planDim+j] *= eps / math.Sqrt(norm)
		}
	}
	return tp.Leaf(tensor.FromFloat64s(tp.Backend(), tensor.Float64, tensor.Shape{planRows, planDim}, data))
}

// softplusSum is the evaluate function f(x) = Σ_h softplus(x W)_h per row:
// smooth (infinitely differentiable), rows independent.
func softplusSum(w *ad.Var) Evaluate {
	return func(x *ad.Var) *ad.Var { return ad.Sum(ad.Softplus(ad.MatMul(x, w, false, false)), 1) }
}

func TestPlanLayout(t *testing.T) {
	tp, x, _ := planSetup(1)
	v := direction(tp, 0.3)
	p := NewPlan(1, -1, 0, 2.5)
	in := p.Inputs(x, v)
	if got := in.Shape(); got[0] != 4*planRows || got[1] != planDim {
		t.Fatalf("Inputs shape %v", got)
	}
	xs, vs := x.Value().ToFloat64s(), v.Value().ToFloat64s()
	for i, g := range p.Offsets {
		b := p.Block(in, i).Value().ToFloat64s()
		for j := range b {
			if want := xs[j] + g*vs[j]; b[j] != want { // same single rounding
				t.Fatalf("block %d (γ=%g) element %d = %g, want %g", i, g, j, b[j], want)
			}
		}
	}
	w := []float64{0.5, -2, 0, 1.25}
	got := p.Combine(in, w).Value().ToFloat64s()
	for j := range got {
		want := 0.0
		for i, g := range p.Offsets {
			want += w[i] * (xs[j] + g*vs[j])
		}
		if math.Abs(got[j]-want) > 1e-14*(1+math.Abs(want)) { // summation order only
			t.Fatalf("Combine element %d = %g, want %g", j, got[j], want)
		}
	}
	if s := Default(2); !equal(PlanFor(s).Offsets, s.Offsets) {
		t.Errorf("PlanFor offsets %v, stencil %v", PlanFor(s).Offsets, s.Offsets)
	}
	for _, bad := range [][]float64{{}, {1, 0, 1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewPlan(%v) did not panic", bad)
				}
			}()
			NewPlan(bad...)
		}()
	}
}

// closeVars reports whether a and b agree to tol relative to their size.
func closeVars(a, b *ad.Var, tol float64) error {
	av, bv := a.Value().ToFloat64s(), b.Value().ToFloat64s()
	if len(av) != len(bv) {
		return fmt.Errorf("sizes %d and %d", len(av), len(bv))
	}
	for i := range av {
		if math.Abs(av[i]-bv[i]) > tol*(1+math.Abs(bv[i])) {
			return fmt.Errorf("element %d: %.17g vs %.17g", i, av[i], bv[i])
		}
	}
	return nil
}

// TestExecutorsAgree runs the same plan through Batched and Sequential and
// compares the stacked values and the gradients of a loss built from them
// with respect to W, x and v. Both compute the same rows with the same
// ops; only the summation order of W's gradient (one GEMM over all blocks
// versus one per block) differs, so 1e-13 relative covers it.
func TestExecutorsAgree(t *testing.T) {
	for _, s := range []Stencil{Default(1), Default(2), Default(5), mustHA(t, 2, 3)} {
		var vals, grads [2][]*ad.Var
		for k, ex := range []Executor{Batched{}, Sequential{}} {
			tp, x, w := planSetup(2)
			v := direction(tp, 0.1)
			p := PlanFor(s)
			out := ex.Run(p, x, v, softplusSum(w))
			loss := ad.Sum(ad.Square(p.Combine(out, s.Weights)))
			vals[k] = []*ad.Var{out, loss}
			grads[k] = ad.Grad([]*ad.Var{loss}, []*ad.Var{w, x, v}, ad.GradOptions{})
		}
		for i, name := range []string{"values", "loss"} {
			if err := closeVars(vals[0][i], vals[1][i], 1e-13); err != nil {
				t.Errorf("order %d, %d offsets: %s differ: %v", s.Order, len(s.Offsets), name, err)
			}
		}
		for i, name := range []string{"W", "x", "v"} {
			if err := closeVars(grads[0][i], grads[1][i], 1e-13); err != nil {
				t.Errorf("order %d, %d offsets: d loss/d %s differ: %v", s.Order, len(s.Offsets), name, err)
			}
		}
	}
}

// exactDirectional returns (vᵀ∇ₓ)^T f(x) per row by repeated autodiff:
// g_{k+1} = Σ_j v_j ∂g_k/∂x_j (rows are independent, so the gradient of
// Σ_rows g_k gives each row's own gradient).
func exactDirectional(f Evaluate, x, v *ad.Var, order int) *ad.Var {
	g := f(x)
	for range order {
		d := ad.Grad([]*ad.Var{ad.Sum(g)}, []*ad.Var{x}, ad.GradOptions{CreateGraph: true})[0]
		g = ad.Sum(ad.Mul(d, v), 1)
	}
	return g
}

func norm(a []float64) float64 { return math.Sqrt(dot(a, a)) }

func diff(a, b []float64) []float64 {
	d := make([]float64, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	return d
}

// TestCombineMatchesAutodiff checks Combine with a Theorem1 stencil against
// the exact directional derivative from autodiff, per row, for T = 1..4 at
// ‖v‖ = ε ∈ {0.2, 0.1, 0.05}: the relative error ‖est - exact‖/‖exact‖ must
// fall at rate 2 (fitted slope within ±0.3) and be below 2% at ε = 0.05
// (the O(ε²) constant for this f is ~1). For T = 1, 2 the same holds for
// the gradient with respect to W of Σ_rows estimate, the quantity training
// differentiates. Round-off (~1e-16·Σ|w|/ε^T <= 1e-9 here) is negligible.
func TestCombineMatchesAutodiff(t *testing.T) {
	epss := []float64{0.2, 0.1, 0.05}
	for order := 1; order <= 4; order++ {
		for _, s := range []Stencil{Default(order), mustTheorem1(t, order, 0.6)} {
			var errs, gerrs []float64
			for _, eps := range epss {
				tp, x, w := planSetup(3)
				v := direction(tp, eps)
				f := softplusSum(w)
				p := PlanFor(s)
				est := p.Combine(Batched{}.Run(p, x, v, f), s.Weights)
				exact := exactDirectional(f, x, v, order)
				ev, xv := est.Value().ToFloat64s(), exact.Value().ToFloat64s()
				errs = append(errs, norm(diff(ev, xv))/norm(xv))
				if order <= 2 {
					ge := ad.Grad([]*ad.Var{ad.Sum(est)}, []*ad.Var{w}, ad.GradOptions{})[0].Value().ToFloat64s()
					gx := ad.Grad([]*ad.Var{ad.Sum(exact)}, []*ad.Var{w}, ad.GradOptions{})[0].Value().ToFloat64s()
					gerrs = append(gerrs, norm(diff(ge, gx))/norm(gx))
				}
			}
			for k, e := range [][]float64{errs, gerrs} {
				if len(e) == 0 {
					continue
				}
				what := []string{"estimate", "W-gradient"}[k]
				if r := slope(epss, e); math.Abs(r-2) > 0.3 {
					t.Errorf("T=%d offsets %v: %s error rate %.2f, want 2 (errors %.3g)", order, s.Offsets, what, r, e)
				}
				if e[len(e)-1] > 0.02 {
					t.Errorf("T=%d offsets %v: %s relative error %.3g at ε=0.05", order, s.Offsets, what, e[len(e)-1])
				}
			}
		}
	}
}

// mustTheorem1 returns Theorem1 with alphas a0, 2·a0, ... (a non-default set).
func mustTheorem1(t *testing.T, order int, a0 float64) Stencil {
	t.Helper()
	alphas := make([]float64, (order+1)/2)
	for k := range alphas {
		alphas[k] = a0 * float64(k+1) * (1 + 0.1*float64(k))
	}
	s, err := Theorem1(order, alphas)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
