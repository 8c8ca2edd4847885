// Package commtest is the conformance suite for implementations of
// collective.Comm. Every implementation (the in-memory communicators, the TCP
// ring, NCCL on hosts that have GPUs) runs the same checks from its own test:
//
//	func TestConformance(t *testing.T) {
//		commtest.Run(t, func(t *testing.T, n int) []collective.Comm { ... })
//	}
//
// newGroup returns the n communicators of one fresh group, in rank order, and
// registers their cleanup with t.Cleanup. Its collective timeout must be at
// least 10 s: the failure checks require desyncs and aborts to be reported as
// such, promptly, not as timeouts (deadlines are tested through contexts).
//
// Results are compared with a float64 reference computed here from the
// values each rank sent. Tolerances are stated next to the checks that
// apply them; agreement across ranks is always checked bitwise.
package commtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/collective"
	"github.com/fdsm-go/fdsm/tensor"
)

// NewGroup makes a fresh group of n communicators; see the package comment.
type NewGroup func(t *testing.T, n int) []collective.Comm

// hangLimit bounds every collective the suite runs; past it the suite aborts
// the group and fails the test rather than hanging the test binary.
const hangLimit = 60 * time.Second

// promptly bounds how long a failure may take to reach every rank once it
// happened. Generous: the machine may be loaded.
const promptly = 8 * time.Second

var dtypes = []tensor.DType{tensor.Float32, tensor.Float64}

// Run checks group sizes 1 to 4; RunSizes chooses them.
func Run(t *testing.T, newGroup NewGroup) { RunSizes(t, newGroup, 1, 2, 3, 4) }

// RunSizes runs the suite for each group size in sizes, on the
// communicators as they are ("raw") and wrapped by WithDesyncCheck
// ("checked"), which must keep every promise and add the desync diagnosis.
func RunSizes(t *testing.T, newGroup NewGroup, sizes ...int) {
	for _, n := range sizes {
		for _, checked := range []bool{false, true} {
			mode := "raw"
			if checked {
				mode = "checked"
			}
			t.Run(fmt.Sprintf("n=%d/%s", n, mode), func(t *testing.T) {
				for _, c := range checks {
					if n < c.minSize || (c.mode != "" && c.mode != mode) {
						continue
					}
					t.Run(c.name, func(t *testing.T) {
						comms := newGroup(t, n)
						if len(comms) != n {
							t.Fatalf("newGroup(%d) returned %d communicators", n, len(comms))
						}
						for r, cm := range comms {
							if cm.Rank() != r || cm.Size() != n {
								t.Fatalf("communicator %d says rank %d of %d, want %d of %d", r, cm.Rank(), cm.Size(), r, n)
							}
							if checked {
								comms[r] = collective.WithDesyncCheck(cm, nil)
							}
						}
						c.fn(t, comms)
					})
				}
			})
		}
	}
}

type check struct {
	name    string
	minSize int
	mode    string // "raw" or "checked" for checks of one mode only
	fn      func(t *testing.T, comms []collective.Comm)
}

var checks = []check{
	{"AllReduce", 1, "", testAllReduce},
	{"AllReduceExact", 1, "", testAllReduceExact},
	{"ReduceScatter", 1, "", testReduceScatter},
	{"ReduceScatterExact", 1, "", testReduceScatterExact},
	{"Broadcast", 1, "", testBroadcast},
	{"AllGather", 1, "", testAllGather},
	{"Barrier", 1, "", testBarrier},
	{"MixedSequence", 1, "", testMixedSequence},
	{"Async", 1, "", testAsync},
	{"AbortThenCall", 1, "", testAbortThenCall},
	{"Close", 1, "", testClose},
	{"DesyncFails", 2, "raw", testDesyncFails},
	{"Desync", 2, "checked", testDesync},
	{"DesyncSameKind", 2, "checked", testDesyncSameKind},
	{"AbortMidCollective", 2, "", testAbortMidCollective},
	{"AsyncWaitCanceled", 2, "", testAsyncWaitCanceled},
	{"ContextDeadline", 2, "", testContextDeadline},
	{"ContextCancel", 2, "", testContextCancel},
	{"PeerClosed", 2, "", testPeerClosed},
}

// sizes are the element counts checked for a group of n: empty, one, fewer
// than the ranks, not divisible by them, a random small one and a large
// prime (many chunks, uneven segments).
func sizes(n int, rng *rand.Rand) []int {
	s := []int{0, 1, n - 1, n + 1, 2 + rng.IntN(1000), 100003}
	slices.Sort(s)
	return slices.Compact(s)
}

// onEveryRank runs f for every rank concurrently and returns their errors.
// If some rank has not returned after hangLimit, it aborts every
// communicator and fails the test.
func onEveryRank(t *testing.T, comms []collective.Comm, f func(rank int, c collective.Comm) error) []error {
	t.Helper()
	errs := make([]error, len(comms))
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = f(r, c)
		}()
	}
	waitOrFail(t, comms, &wg, hangLimit)
	return errs
}

// waitOrFail waits for wg, or after limit aborts the group and fails t.
func waitOrFail(t *testing.T, comms []collective.Comm, wg *sync.WaitGroup, limit time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(limit):
	}
	for _, c := range comms {
		c.Abort(errors.New("commtest: collective hung"))
	}
	select {
	case <-done:
		t.Fatalf("a collective hung for %v (returned only after Abort)", limit)
	case <-time.After(10 * time.Second):
		t.Fatalf("a collective hung for %v and did not return even after Abort", limit)
	}
}

func noErrors(t *testing.T, what string, errs []error) {
	t.Helper()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("%s: rank %d: %v", what, r, err)
		}
	}
}

var cpu = tensor.NewCPU()

// hostTensor returns a host tensor of dt holding vals (converted).
func hostTensor(dt tensor.DType, vals []float64) *tensor.Tensor {
	shape := tensor.Shape{len(vals)}
	if dt == tensor.Float32 {
		f := make([]float32, len(vals))
		for i, v := range vals {
			f[i] = float32(v)
		}
		return tensor.NewHostTensor(cpu, shape, f, nil)
	}
	return tensor.NewHostTensor(cpu, shape, nil, append(make([]float64, 0, len(vals)), vals...))
}

// values reads a host tensor's elements as float64 (exactly).
func values(x *tensor.Tensor) []float64 {
	if x.DType() == tensor.Float32 {
		out := make([]float64, x.Numel())
		for i, v := range x.Float32s() {
			out[i] = float64(v)
		}
		return out
	}
	return slices.Clone(x.Float64s())
}

// bits returns a tensor's elements' bit patterns, for bitwise comparison.
func bits(x *tensor.Tensor) []uint64 {
	out := make([]uint64, x.Numel())
	if x.DType() == tensor.Float32 {
		for i, v := range x.Float32s() {
			out[i] = uint64(math.Float32bits(v))
		}
	} else {
		for i, v := range x.Float64s() {
			out[i] = math.Float64bits(v)
		}
	}
	return out
}

// sameBits fails t unless every rank's tensor is bitwise equal to want's.
func sameBits(t *testing.T, what string, want *tensor.Tensor, got []*tensor.Tensor) {
	t.Helper()
	wb := bits(want)
	for r, g := range got {
		gb := bits(g)
		if len(gb) != len(wb) {
			t.Fatalf("%s: rank %d holds %d elements, want %d", what, r, len(gb), len(wb))
		}
		for i := range gb {
			if gb[i] != wb[i] {
				t.Fatalf("%s: rank %d element %d is %v, want bitwise %v", what, r, i, values(g)[i], values(want)[i])
			}
		}
	}
}

func randomValues(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = 2*rng.Float64() - 1
	}
	return v
}

// unitRoundoff is half the spacing of dt's numbers at 1.
func unitRoundoff(dt tensor.DType) float64 {
	if dt == tensor.Float32 {
		return 0x1p-24
	}
	return 0x1p-53
}

func testAllReduce(t *testing.T, comms []collective.Comm) {
	n := len(comms)
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	for _, dt := range dtypes {
		for _, op := range []collective.ReduceOp{collective.Sum, collective.Average} {
			for _, count := range sizes(n, rng) {
				what := fmt.Sprintf("AllReduce %s %s of %d", op, dt, count)
				in := make([][]float64, n)
				bufs := make([]*tensor.Tensor, n)
				for r := range n {
					bufs[r] = hostTensor(dt, randomValues(rng, count))
					in[r] = values(bufs[r]) // the values actually sent
				}
				errs := onEveryRank(t, comms, func(r int, c collective.Comm) error {
					return c.AllReduce(context.Background(), bufs[r], op)
				})
				noErrors(t, what, errs)
				sameBits(t, what+": ranks disagree", bufs[0], bufs)
				// The sum of n values rounded in any order differs from the
				// exact sum by at most (n-1)·u·Σ|x| (u the unit roundoff);
				// the division of Average adds u·|result|, and the float64
				// reference carries its own (n-1)·2^-53·Σ|x|. 2·n·u·Σ|x|
				// (over n for Average) bounds all of it.
				got := values(bufs[0])
				u := unitRoundoff(dt)
				for i := range count {
					ref, mag := 0.0, 0.0
					for r := range n {
						ref += in[r][i]
						mag += math.Abs(in[r][i])
					}
					tol := 2 * float64(n) * u * mag
					if op == collective.Average {
						ref /= float64(n)
						tol /= float64(n)
					}
					if math.Abs(got[i]-ref) > tol {
						t.Fatalf("%s: element %d is %v, want %v ± %.3g", what, i, got[i], ref, tol)
					}
				}
			}
		}
	}
}

// testAllReduceExact sums small integers, which every order adds exactly, so
// the result must equal the reference bit for bit (Average: the exact sum
// divided by n with one rounding, in the buffer's dtype).
func testAllReduceExact(t *testing.T, comms []collective.Comm) {
	n := len(comms)
	rng := rand.New(rand.NewPCG(2, uint64(n)))
	for _, dt := range dtypes {
		for _, op := range []collective.ReduceOp{collective.Sum, collective.Average} {
			count := 1000 + rng.IntN(100)
			in := make([][]float64, n)
			bufs := make([]*tensor.Tensor, n)
			for r := range n {
				in[r] = make([]float64, count)
				for i := range in[r] {
					in[r][i] = float64(rng.IntN(33) - 16)
				}
				bufs[r] = hostTensor(dt, in[r])
			}
			errs := onEveryRank(t, comms, func(r int, c collective.Comm) error {
				return c.AllReduce(context.Background(), bufs[r], op)
			})
			what := fmt.Sprintf("AllReduce %s %s of small integers", op, dt)
			noErrors(t, what, errs)
			want := make([]float64, count)
			for i := range want {
				for r := range n {
					want[i] += in[r][i]
				}
				if op == collective.Average {
					if dt == tensor.Float32 {
						want[i] = float64(float32(want[i]) / float32(n))
					} else {
						want[i] /= float64(n)
					}
				}
			}
			sameBits(t, what, hostTensor(dt, want), bufs)
		}
	}
}

func testBroadcast(t *testing.T, comms []collective.Comm) {
	n := len(comms)
	rng := rand.New(rand.NewPCG(3, uint64(n)))
	for _, dt := range dtypes {
		for _, count := range sizes(n, rng) {
			for root := range n {
				what := fmt.Sprintf("Broadcast %s of %d from root %d", dt, count, root)
				src := randomValues(rng, count)
				bufs := make([]*tensor.Tensor, n)
				for r := range n {
					v := src
					if r != root {
						v = make([]float64, count)
						for i := range v {
							v[i] = math.NaN()
						}
					}
					bufs[r] = hostTensor(dt, v)
				}
				errs := onEveryRank(t, comms, func(r int, c collective.Comm) error {
					return c.Broadcast(context.Background(), bufs[r], root)
				})
				noErrors(t, what, errs)
				sameBits(t, what, hostTensor(dt, src), bufs)
			}
		}
	}
}

func testAllGather(t *testing.T, comms []collective.Comm) {
	n := len(comms)
	rng := rand.New(rand.NewPCG(4, uint64(n)))
	for _, dt := range dtypes {
		for _, count := range sizes(n, rng) {
			what := fmt.Sprintf("AllGather %s of %d per rank", dt, count)
			var all []float64
			sends := make([]*tensor.Tensor, n)
			recvs := make([]*tensor.Tensor, n)
			for r := range n {
				v := randomValues(rng, count)
				all = append(all, v...)
				sends[r] = hostTensor(dt, v)
				garbage := make([]float64, n*count)
				for i := range garbage {
					garbage[i] = math.NaN()
				}
				recvs[r] = hostTensor(dt, garbage)
			}
			errs := onEveryRank(t, comms, func(r int, c collective.Comm) error {
				return c.AllGather(context.Background(), sends[r], recvs[r])
			})
			noErrors(t, what, errs)
			sameBits(t, what, hostTensor(dt, all), recvs)
		}
	}
}

// testBarrier checks that no rank leaves a barrier before every rank entered
// it, with ranks arriving at different times.
func testBarrier(t *testing.T, comms []collective.Comm) {
	n := len(comms)
	var entered [3]atomic.Int32
	errs := onEveryRank(t, comms, func(r int, c collective.Comm) error {
		for round := range entered {
			time.Sleep(time.Duration((r+round)%n) * 10 * time.Millisecond)
			entered[round].Add(1)
			if err := c.Barrier(context.Background()); err != nil {
				return err
			}
			if got := entered[round].Load(); got != int32(n) {
				return fmt.Errorf("left barrier %d when only %d of %d ranks had entered", round, got, n)
			}
		}
		return nil
	})
	noErrors(t, "Barrier", errs)
}

// testMixedSequence runs a random sequence of collectives (the same on
// every rank) and checks every result, so that per-collective state (sequence
// numbers, stream positions) carries over correctly.
func testMixedSequence(t *testing.T, comms []collective.Comm) {
	n := len(comms)
	rng := rand.New(rand.NewPCG(5, uint64(n)))
	for step := range 40 {
		dt := dtypes[rng.IntN(2)]
		count := rng.IntN(3 * n * 50)
		what := fmt.Sprintf("step %d", step)
		switch kind := rng.IntN(4); kind {
		case 0: // AllReduce of small integers: exact
			in := make([][]float64, n)
			want := make([]float64, count)
			bufs := make([]*tensor.Tensor, n)
			for r := range n {
				in[r] = make([]float64, count)
				for i := range in[r] {
					in[r][i] = float64(rng.IntN(9) - 4)
					want[i] += in[r][i]
				}
				bufs[r] = hostTensor(dt, in[r])
			}
			noErrors(t, what+" AllReduce", onEveryRank(t, comms, func(r int, c collective.Comm) error {
				return c.AllReduce(context.Background(), bufs[r], collective.Sum)
			}))
			sameBits(t, what+" AllReduce", hostTensor(dt, want), bufs)
		case 1:
			root := rng.IntN(n)
			src := randomValues(rng, count)
			bufs := make([]*tensor.Tensor, n)
			for r := range n {
				bufs[r] = hostTensor(dt, make([]float64, count))
			}
			bufs[root] = hostTensor(dt, src)
			noErrors(t, what+" Broadcast", onEveryRank(t, comms, func(r int, c collective.Comm) error {
				return c.Broadcast(context.Background(), bufs[r], root)
			}))
			sameBits(t, what+" Broadcast", hostTensor(dt, src), bufs)
		case 2:
			count /= n
			var all []float64
			sends := make([]*tensor.Tensor, n)
			recvs := make([]*tensor.Tensor, n)
			for r := range n {
				v := randomValues(rng, count)
				all = append(all, v...)
				sends[r] = hostTensor(dt, v)
				recvs[r] = hostTensor(dt, make([]float64, n*count))
			}
			noErrors(t, what+" AllGather", onEveryRank(t, comms, func(r int, c collective.Comm) error {
				return c.AllGather(context.Background(), sends[r], recvs[r])
			}))
			sameBits(t, what+" AllGather", hostTensor(dt, all), recvs)
		case 3:
			noErrors(t, what+" Barrier", onEveryRank(t, comms, func(r int, c collective.Comm) error {
				return c.Barrier(context.Background())
			}))
		}
	}
	for r, c := range comms {
		if err := c.Err(); err != nil {
			t.Fatalf("rank %d: Err() = %v after successful collectives", r, err)
		}
	}
}
