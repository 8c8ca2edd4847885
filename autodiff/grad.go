package autodiff

import (
	"fmt"
)

// GradOptions tune Grad.
type GradOptions struct {
	// CreateGraph records the backward pass on the tape, so the returned
	// gradients can be differentiated again. Without it backward runs with
	// recording off and the gradients are constants.
	CreateGraph bool
	// Seeds are the cotangents of the outputs (vector-Jacobian products):
	// Seeds[i] has the shape of outputs[i]; a nil entry, or nil Seeds, means
	// ones.
	Seeds []*Var
	// OnReady, if set, is called with j and wrt[j]'s gradient as soon as
	// that gradient is final, while the backward sweep still runs over
	// earlier nodes (data-parallel training starts reducing it then). It runs
	// on the calling goroutine, once per wrt, in completion order; gradients
	// that nothing depends on are reported at the end. The Var is the one
	// Grad returns; OnReady must not record on the tape.
	OnReady func(j int, grad *Var)
}

// gradScratch is per-call bookkeeping, kept on the tape for reuse by the
// next non-nested call.
type gradScratch struct {
	dep []bool
	ct  []*Var
}

// Grad returns d(sum_i <seed_i, outputs_i>)/d wrt_j for each j. A wrt that
// the outputs do not depend on gets zeros. Grad leaves no state behind:
// calling it again, or nesting it, gives the same answers as on a fresh graph.
//
// It panics if the Vars belong to different tapes, a seed's shape differs
// from its output's, or a Var is stale.
func Grad(outputs, wrt []*Var, opts GradOptions) []*Var {
	if len(outputs) == 0 {
		panic("autodiff: Grad with no outputs")
	}
	tp := tapeOf(append(append([]*Var(nil), outputs...), wrt...)...)
	if opts.Seeds != nil && len(opts.Seeds) != len(outputs) {
		panic(fmt.Sprintf("autodiff: %d seeds for %d outputs", len(opts.Seeds), len(outputs)))
	}
	n := len(tp.nodes)
	sc := tp.takeScratch(n)
	defer func() { tp.scratch = sc }()
	s := &gradSweep{tp: tp, n: n, dep: sc.dep, ct: sc.ct}
	defer func() { clear(s.ct) }()

	s.markDependents(wrt)
	readyAt, fire, untracked := readiness(tp, wrt, s.lo, n, s.ct, opts.OnReady)

	old := tp.recording
	tp.recording = old && opts.CreateGraph
	defer func() { tp.recording = old }()

	s.seedOutputs(outputs, opts.Seeds)
	s.backward(readyAt, fire)
	return s.results(wrt, untracked)
}

// takeScratch lends the tape's scratch, sized for n nodes, to one Grad call,
// which must give it back; meanwhile a nested call gets its own.
func (tp *Tape) takeScratch(n int) *gradScratch {
	sc := tp.scratch
	tp.scratch = nil
	if sc == nil {
		sc = &gradScratch{}
	}
	sc.dep = resize(sc.dep, n)
	sc.ct = resize(sc.ct, n)
	return sc
}

// gradSweep is one Grad call's reverse pass over the tape's nodes [lo, n).
type gradSweep struct {
	tp    *Tape
	lo, n int
	dep   []bool // by node: depends on some wrt, so needs a cotangent
	ct    []*Var // by node: the cotangent accumulated so far
	needs []bool // by input of the node being visited, reused
}

// markDependents marks the wrts and the nodes computed from them, and sets
// lo to the lowest wrt node (n if none is tracked): the sweep ends there.
func (s *gradSweep) markDependents(wrt []*Var) {
	s.lo = s.n
	for _, w := range wrt {
		if w.id >= 0 {
			s.dep[w.id] = true
			s.lo = min(s.lo, int(w.id))
		}
	}
	for i := s.lo; i < s.n; i++ {
		v := s.tp.nodes[i]
		if s.dep[i] || v.op == nil {
			continue
		}
		for _, in := range v.inputs {
			if in.id >= 0 && s.dep[in.id] {
				s.dep[i] = true
				break
			}
		}
	}
}

// seedOutputs starts the cotangents of the outputs that depend on a wrt.
func (s *gradSweep) seedOutputs(outputs, seeds []*Var) {
	for i, out := range outputs {
		if out.id < 0 || !s.dep[out.id] {
			continue
		}
		var seed *Var
		if seeds != nil && seeds[i] != nil {
			seed = seeds[i]
			if !seed.Shape().Equal(out.Shape()) {
				panic(fmt.Sprintf("autodiff: seed %v for output %v", seed.Shape(), out.Shape()))
			}
		} else {
			seed = s.tp.fullOn(out.value.Backend(), out.DType(), 1, out.Shape()...)
		}
		s.ct[out.id] = accumulate(s.ct[out.id], seed)
	}
}

// backward visits the nodes from the newest down to lo, reporting through
// fire (when readyAt is set) each gradient as soon as it is final.
func (s *gradSweep) backward(readyAt map[int][]int, fire func([]int)) {
	s.needs = make([]bool, 0, 4)
	for i := s.n - 1; i >= s.lo; i-- {
		if readyAt != nil {
			fire(readyAt[i+1]) // node i+1 ran: gradients it completed are final
		}
		s.visit(i)
	}
	if readyAt != nil {
		fire(readyAt[s.lo])
		fire(readyAt[-1])
	}
}

// visit runs node i's VJP and adds what it gives to its inputs' cotangents.
func (s *gradSweep) visit(i int) {
	g := s.ct[i]
	if g == nil {
		return
	}
	v := s.tp.nodes[i]
	if v.op == nil || !s.markNeeds(v) {
		return
	}
	gins := v.op.VJP(g, v, v.inputs, s.needs)
	for j, in := range v.inputs {
		if !s.needs[j] || j >= len(gins) || gins[j] == nil {
			continue
		}
		if !gins[j].Shape().Equal(in.Shape()) {
			panic(fmt.Sprintf("autodiff: %s VJP gave %v for input %d of shape %v", v.op.Name(), gins[j].Shape(), j, in.Shape()))
		}
		s.ct[in.id] = accumulate(s.ct[in.id], gins[j])
	}
}

// markNeeds sets needs to which of v's inputs want a cotangent and reports
// whether any does.
func (s *gradSweep) markNeeds(v *Var) bool {
	s.needs = s.needs[:0]
	want := false
	for _, in := range v.inputs {
		need := in.id >= 0 && s.dep[in.id]
		s.needs = append(s.needs, need)
		want = want || need
	}
	return want
}

// results returns the gradient of each wrt: its cotangent, else the zeros
// OnReady was given, else new zeros.
func (s *gradSweep) results(wrt []*Var, untracked map[int]*Var) []*Var {
	res := make([]*Var, len(wrt))
	for j, w := range wrt {
		if w.id >= 0 && s.ct[w.id] != nil {
			res[j] = s.ct[w.id]
		} else if g := untracked[j]; g != nil {
			res[j] = g
		} else {
			res[j] = s.tp.fullOn(w.value.Backend(), w.DType(), 0, w.Shape()...)
		}
	}
	return res
}

// readiness maps node indices to the wrt positions whose gradient is final
// once that node's VJP has run: the first (lowest-index) node consuming a
// wrt is the last one the backward sweep visits. Key -1 holds wrts nothing
// consumes. fire reports a list through onReady; untracked keeps the zeros
// reported for untracked wrts so Grad returns the same Vars. All are nil
// without onReady.
func readiness(tp *Tape, wrt []*Var, lo, n int, ct []*Var, onReady func(int, *Var)) (map[int][]int, func([]int), map[int]*Var) {
	if onReady == nil {
		return nil, nil, nil
	}
	untracked := map[int]*Var{}
	want := make(map[int32][]int, len(wrt))
	for j, w := range wrt {
		want[w.id] = append(want[w.id], j)
	}
	readyAt := make(map[int][]int, len(wrt))
	seen := make(map[int32]bool, len(wrt))
	for i := lo; i < n; i++ {
		v := tp.nodes[i]
		if v.op == nil {
			continue
		}
		for _, in := range v.inputs {
			if js, ok := want[in.id]; ok && in.id >= 0 && !seen[in.id] {
				seen[in.id] = true
				readyAt[i] = append(readyAt[i], js...)
			}
		}
	}
	for id, js := range want {
		if !seen[id] {
			readyAt[-1] = append(readyAt[-1], js...)
		}
	}
	fire := func(js []int) {
		for _, j := range js {
			w := wrt[j]
			g := (*Var)(nil)
			if w.id >= 0 {
				g = ct[w.id]
			}
			if g == nil {
				g = tp.fullOn(w.value.Backend(), w.DType(), 0, w.Shape()...)
				if w.id >= 0 {
					ct[w.id] = g // so Grad returns the same Var
				} else {
					untracked[j] = g
				}
			}
			onReady(j, g)
		}
	}
	return readyAt, fire, untracked
}

// Grad1 is Grad for one output with ones as seed.
func Grad1(output *Var, wrt ...*Var) []*Var {
	return Grad([]*Var{output}, wrt, GradOptions{})
}

func accumulate(acc, g *Var) *Var {
	if acc == nil {
		return g
	}
	return Add(acc, g)
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/2)
	}
	s = s[:n]
	clear(s)
	return s
}
