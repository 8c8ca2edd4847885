package commtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/collective"
	"github.com/fdsm-go/fdsm/tensor"
)

// testReduceScatter: rank r ends with block r of the sum (or mean) of the
// ranks' send buffers, within the rounding bound of testAllReduce, and the
// send buffers are unchanged.
func testReduceScatter(t *testing.T, comms []collective.Comm) {
	n := len(comms)
	rng := rand.New(rand.NewPCG(6, uint64(n)))
	for _, dt := range dtypes {
		for _, op := range []collective.ReduceOp{collective.Sum, collective.Average} {
			for _, k := range []int{0, 1, n + 1, 2 + rng.IntN(500), 30011} {
				what := fmt.Sprintf("ReduceScatter %s %s of %d per rank", op, dt, k)
				in := make([][]float64, n)
				sends := make([]*tensor.Tensor, n)
				recvs := make([]*tensor.Tensor, n)
				for r := range n {
					sends[r] = hostTensor(dt, randomValues(rng, n*k))
					in[r] = values(sends[r])
					recvs[r] = hostTensor(dt, make([]float64, k))
				}
				noErrors(t, what, onEveryRank(t, comms, func(r int, c collective.Comm) error {
					return c.ReduceScatter(context.Background(), sends[r], recvs[r], op)
				}))
				for r := range n {
					sameBits(t, what+": send changed", hostTensor(dt, in[r]), sends[r:r+1])
					checkBlock(t, what, r, values(recvs[r]), in, r*k, op, unitRoundoff(dt))
				}
			}
		}
	}
}

// checkBlock compares rank r's block with the float64 reduction of the
// inputs at [lo, lo+len(got)), to testAllReduce's bound 2·n·u·Σ|x|.
func checkBlock(t *testing.T, what string, r int, got []float64, in [][]float64, lo int, op collective.ReduceOp, u float64) {
	t.Helper()
	n := len(in)
	for i, g := range got {
		ref, mag := 0.0, 0.0
		for q := range n {
			ref += in[q][lo+i]
			mag += math.Abs(in[q][lo+i])
		}
		tol := 2 * float64(n) * u * mag
		if op == collective.Average {
			ref /= float64(n)
			tol /= float64(n)
		}
		if math.Abs(g-ref) > tol {
			t.Fatalf("%s: rank %d element %d is %v, want %v ± %.3g", what, r, i, g, ref, tol)
		}
	}
}

// testReduceScatterExact: small integers add exactly in any order, so every
// block equals the reference bit for bit.
func testReduceScatterExact(t *testing.T, comms []collective.Comm) {
	n := len(comms)
	rng := rand.New(rand.NewPCG(7, uint64(n)))
	for _, dt := range dtypes {
		k := 500 + rng.IntN(50)
		want := make([]float64, n*k)
		sends := make([]*tensor.Tensor, n)
		recvs := make([]*tensor.Tensor, n)
		for r := range n {
			v := make([]float64, n*k)
			for i := range v {
				v[i] = float64(rng.IntN(33) - 16)
				want[i] += v[i]
			}
			sends[r], recvs[r] = hostTensor(dt, v), hostTensor(dt, make([]float64, k))
		}
		what := fmt.Sprintf("ReduceScatter sum %s of small integers", dt)
		noErrors(t, what, onEveryRank(t, comms, func(r int, c collective.Comm) error {
			return c.ReduceScatter(context.Background(), sends[r], recvs[r], collective.Sum)
		}))
		for r := range n {
			sameBits(t, what, hostTensor(dt, want[r*k:(r+1)*k]), recvs[r:r+1])
		}
	}
}

// testAsync issues several collectives through Async without waiting, then
// waits for them out of order: each result is right, and they ran in issue
// order (a Broadcast after an AllReduce of the same buffer sees its sum).
func testAsync(t *testing.T, comms []collective.Comm) {
	n := len(comms)
	const count = 20000
	bufs := make([][]*tensor.Tensor, n)
	errs := onEveryRank(t, comms, func(r int, c collective.Comm) error {
		a := collective.Async(c)
		defer a.Close()
		ctx := context.Background()
		var ws []collective.Work
		for b := range 4 {
			v := make([]float64, count)
			for i := range v {
				v[i] = float64(r + b)
			}
			buf := hostTensor(tensor.Float64, v)
			bufs[r] = append(bufs[r], buf)
			ws = append(ws, a.AllReduce(ctx, buf, collective.Sum))
		}
		ws = append(ws, a.Broadcast(ctx, bufs[r][0], n-1), a.Barrier(ctx))
		for i := len(ws) - 1; i >= 0; i-- {
			if err := ws[i].Wait(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	noErrors(t, "Async", errs)
	ranks := float64(n * (n - 1) / 2)
	for b := range 4 {
		want := make([]float64, count)
		for i := range want {
			want[i] = ranks + float64(n*b)
		}
		got := make([]*tensor.Tensor, n)
		for r := range n {
			got[r] = bufs[r][b]
		}
		sameBits(t, fmt.Sprintf("Async AllReduce %d", b), hostTensor(tensor.Float64, want), got)
	}
}

// testAsyncWaitCanceled: a Wait whose context ends before the collective
// can finish (the last rank never joins) aborts the communicator and
// returns once the collective ended, with the reason.
func testAsyncWaitCanceled(t *testing.T, comms []collective.Comm) {
	n := len(comms)
	inFlight := allRanks(n - 1)
	errs, took := timed(t, comms, inFlight, func(r int, c collective.Comm) error {
		a := collective.Async(c)
		defer a.Close()
		w := a.AllReduce(context.Background(), floatBuf(1000), collective.Sum)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		return w.Wait(ctx)
	})
	expectFailures(t, "abandoned wait", errs, took, inFlight, collective.ErrAborted, collective.ErrPeerLost)
	// Every waiting rank gave up; some rank's error is its own abandoned
	// wait (the others may hear of a peer's first).
	found := false
	for _, r := range inFlight {
		found = found || errors.Is(errs[r], collective.ErrWaitAbandoned)
	}
	if !found {
		t.Fatalf("no rank reported its abandoned wait: %v", errs)
	}
	expectBroken(t, "after an abandoned wait", comms)
}
