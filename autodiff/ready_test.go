package autodiff

import (
	"testing"
)

// TestBackwardReadyMatchesBackward: the hook reports every parameter once,
// the deepest layer first, each with its final gradient at report time, and
// the gradients equal plain Backward's bitwise.
func TestBackwardReadyMatchesBackward(t *testing.T) {
	mk := func() []*Param {
		return []*Param{
			NewParam("l0.w", rnd(1, 1, 0, 5, 4)), NewParam("l0.b", rnd(2, 1, 0, 5)),
			NewParam("l1.w", rnd(3, 1, 0, 6, 5)), NewParam("l1.b", rnd(4, 1, 0, 6)),
			NewParam("l2.w", rnd(5, 1, 0, 1, 6)), NewParam("l2.b", rnd(6, 1, 0, 1)),
			NewParam("unused", rnd(7, 1, 0, 3)),
		}
	}
	x := rnd(8, 1, 0, 7, 4)
	loss := func(tp *Tape, ps []*Param) *Var {
		h := Tanh(Linear(tp.Const(x), tp.Param(ps[0]), tp.Param(ps[1])))
		h = Tanh(Linear(h, tp.Param(ps[2]), tp.Param(ps[3])))
		return Sum(Square(Linear(h, tp.Param(ps[4]), tp.Param(ps[5]))))
	}
	ref, got := mk(), mk()
	tp := NewTape(testBE)
	Backward(loss(tp, ref), ref)
	tp.Reset()

	var order []string
	atReport := map[string][]float64{}
	BackwardReady(loss(tp, got), got, func(p *Param) {
		order = append(order, p.Name)
		atReport[p.Name] = append([]float64(nil), p.Grad.ToFloat64s()...)
	})
	tp.Reset()
	if len(order) != len(got) {
		t.Fatalf("reported %d parameters, want %d: %v", len(order), len(got), order)
	}
	pos := map[string]int{}
	for i, n := range order {
		if _, dup := pos[n]; dup {
			t.Fatalf("%s reported twice: %v", n, order)
		}
		pos[n] = i
	}
	// The last layer is final before the first layer's backward runs.
	if !(pos["l2.w"] < pos["l1.w"] && pos["l1.w"] < pos["l0.w"] && pos["unused"] == len(order)-1) {
		t.Errorf("completion order %v: want l2 before l1 before l0, unused last", order)
	}
	for i, p := range got {
		for k, v := range p.Grad.ToFloat64s() {
			r := 0.0 // Backward leaves an unused parameter's buffer nil
			if ref[i].Grad != nil {
				r = ref[i].Grad.ToFloat64s()[k]
			}
			if v != r {
				t.Fatalf("%s[%d] = %v, Backward gives %v", p.Name, k, v, r)
			}
			if a := atReport[p.Name][k]; a != v {
				t.Fatalf("%s[%d] was %v when reported, final %v", p.Name, k, a, v)
			}
		}
	}
}

// TestGradOnReadyReturnsSameVars: OnReady sees exactly the Vars Grad
// returns, including zeros for an input nothing depends on.
func TestGradOnReadyReturnsSameVars(t *testing.T) {
	tp := NewTape(testBE)
	a, b, c := tp.Leaf(rnd(9, 1, 0, 3)), tp.Leaf(rnd(10, 1, 0, 3)), tp.Leaf(rnd(11, 1, 0, 3))
	y := Sum(Mul(Square(a), b))
	seen := map[int]*Var{}
	gs := Grad([]*Var{y}, []*Var{a, b, c}, GradOptions{OnReady: func(j int, g *Var) { seen[j] = g }})
	for j, g := range gs {
		if seen[j] != g {
			t.Errorf("wrt %d: OnReady saw a different Var than Grad returned", j)
		}
	}
	for _, v := range gs[2].Value().ToFloat64s() {
		if v != 0 {
			t.Fatal("unused input's gradient is not zero")
		}
	}
}
