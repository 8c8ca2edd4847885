package trainer

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/collective"
	"github.com/fdsm-go/fdsm/data"
	"github.com/fdsm-go/fdsm/device"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// ddpConfig is toyConfig with a deterministic objective (exact SM draws no
// directions or noise), so data-parallel and single-process runs see the
// same arithmetic up to the order of the batch mean, and a constant
// learning rate so a run may be extended on resume. SGD with momentum,
// unlike Adam, is sensitive to the gradient's scale, so a wrong average
// (a sum, a missing rank) shows.
func ddpConfig(batch, accumulate, steps int) Config {
	c := toyConfig("sm", steps)
	c.Model = map[string]any{"kind": "mlp", "input_dim": 2, "hidden": []any{16, 16}, "activation": "softplus"}
	c.Batch, c.Accumulate = batch, accumulate
	c.Schedule = ScheduleConfig{Kind: "constant"}
	c.Optimizer = OptimizerConfig{Kind: "sgd", LR: 0.01, Momentum: 0.9}
	c.Data.Limit = 512
	return c
}

// trainWorld runs c as world in-process ranks over memory communicators
// (gradients and control messages on communicators of their own, as a node
// connects them) and returns rank 0's summary; every rank must succeed.
func trainWorld(t *testing.T, c Config, world int, dir string, resume bool) Summary {
	t.Helper()
	comms := collective.NewLocalComms(world, 20*time.Second)
	control := collective.NewLocalComms(world, 20*time.Second)
	sums := make([]Summary, world)
	errs := make([]error, world)
	var wg sync.WaitGroup
	for r := 0; r < world; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := Run{Config: c, Dir: dir, Resume: resume, Log: zerolog.Nop(),
				Dist: &Distributed{Comm: comms[r], Control: control[r], HashEvery: 1, FirstBucketBytes: 600, BucketBytes: 1500}}
			sums[r], errs[r] = run.Train(context.Background())
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return sums[0]
}

// maxRelDiff compares two models' parameters: max |a-b| / (max |b| + tiny).
func maxRelDiff(a, b models.Model) float64 {
	worst := 0.0
	for i, p := range a.Params() {
		x, y := p.Value.ToFloat64s(), b.Params()[i].Value.ToFloat64s()
		scale := 0.0
		for _, v := range y {
			scale = math.Max(scale, math.Abs(v))
		}
		for k := range x {
			worst = math.Max(worst, math.Abs(x[k]-y[k])/(scale+1e-300))
		}
	}
	return worst
}

// The tolerance for data-parallel vs single-process parameters: both
// compute the same float64 gradients except that the batch mean is summed
// in a different order (per-rank means averaged), a relative change of
// order 1e-16 per gradient element, and SGD's update is linear in it, so
// after six steps the parameters differ by a few ulps. 1e-10 leaves five
// orders of margin and still catches a wrong sample, a sum instead of an
// average or a missed bucket (those change parameters by 1e-4 and more).
const ddpTol = 1e-10

// TestDataParallelMatchesCombinedBatch: 2 (and 4) ranks with batch B/world
// each equal one process with batch B after several steps, with and without
// gradient accumulation; the small bucket sizes split the MLP into several
// buckets.
func TestDataParallelMatchesCombinedBatch(t *testing.T) {
	for _, c := range []struct{ world, batch, acc int }{{2, 8, 1}, {2, 4, 2}, {4, 4, 1}} {
		ref := train(t, ddpConfig(16, 1, 6), t.TempDir(), false)
		got := trainWorld(t, ddpConfig(c.batch, c.acc, 6), c.world, t.TempDir(), false)
		d := maxRelDiff(got.Model, ref.Model)
		t.Logf("world %d batch %d accumulate %d: max relative parameter difference %.3g", c.world, c.batch, c.acc, d)
		if d > ddpTol {
			t.Errorf("world %d batch %d accumulate %d: parameters differ from one process with batch 16 by %.3g (tolerance %g)", c.world, c.batch, c.acc, d, ddpTol)
		}
		if got.Steps != 6 {
			t.Errorf("world %d: %d steps", c.world, got.Steps)
		}
	}
}

// TestResumeOnDifferentWorldSize: 3 steps on 2 ranks then 3 more on 1 rank
// (and 1 -> 4) continue from the right sample position: the result equals an
// uninterrupted single-process run on the same global batch.
func TestResumeOnDifferentWorldSize(t *testing.T) {
	ref := train(t, ddpConfig(16, 1, 6), t.TempDir(), false)
	for _, c := range []struct{ from, to int }{{2, 1}, {1, 4}, {4, 2}} {
		dir := t.TempDir()
		first := ddpConfig(16/c.from, 1, 3)
		if c.from == 1 {
			train(t, first, dir, false)
		} else {
			trainWorld(t, first, c.from, dir, false)
		}
		second := ddpConfig(16/c.to, 1, 6)
		var got Summary
		if c.to == 1 {
			got = train(t, second, dir, true)
		} else {
			got = trainWorld(t, second, c.to, dir, true)
		}
		if d := maxRelDiff(got.Model, ref.Model); d > ddpTol {
			t.Errorf("world %d -> %d: parameters differ from the uninterrupted run by %.3g", c.from, c.to, d)
		}
	}
}

// TestReplicaCheckNamesDivergedRank: the periodic hash comparison reports a
// replica whose parameters differ.
func TestReplicaCheckNamesDivergedRank(t *testing.T) {
	comms := collective.NewLocalComms(2, 10*time.Second)
	c := ddpConfig(8, 1, 1)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := models.Build(c.ModelSpec(), tensor.DefaultCPU(), tensor.Float64, 1)
			if err != nil {
				errs[r] = err
				return
			}
			if r == 1 {
				m.Params()[0].Value.Float64s()[3] += 1e-12
			}
			errs[r] = checkReplicas(context.Background(), &Distributed{Comm: comms[r]}, m, 5, data.SamplerState{Position: 8})
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "rank 1's parameters differ from rank 0's") {
			t.Errorf("rank %d: %v", r, err)
		}
	}
}

// TestOperatorCommandsReachEveryRank: a stop seen by rank 0 only stops
// every rank after the same step, with a checkpoint; a checkpoint request
// writes one at that step.
func TestOperatorCommandsReachEveryRank(t *testing.T) {
	dir := t.TempDir()
	comms := collective.NewLocalComms(2, 20*time.Second)
	sums := make([]Summary, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			polls := 0
			run := Run{Config: ddpConfig(8, 1, 50), Dir: dir, Log: zerolog.Nop(),
				Dist: &Distributed{Comm: comms[r]},
				PollCommand: func() string {
					polls++
					switch polls {
					case 2:
						return "checkpoint"
					case 5:
						return "stop"
					}
					return ""
				}}
			if r == 1 {
				run.PollCommand = func() string { return "stop" } // ignored: not rank 0
			}
			sums[r], errs[r] = run.Train(context.Background())
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for r, s := range sums {
		if !s.Stopped || s.Steps != 5 {
			t.Errorf("rank %d: stopped %v after %d steps, want stopped after 5", r, s.Stopped, s.Steps)
		}
	}
	got := listCheckpoints(dir)
	want := []string{"step-00000005", "step-00000002"}
	if len(got) != 2 || !strings.HasSuffix(got[0], want[0]) || !strings.HasSuffix(got[1], want[1]) {
		t.Errorf("checkpoints %v, want %v", got, want)
	}
}

// TestDataParallelBadRankSkipsEveryRank: one rank finds every loss too
// large from step 4 (its bad_steps.max_loss is below any loss); the other
// rank's losses are fine. Its NaN-poisoned gradient reaches every rank
// through the average, so both skip steps 4-10 without reading a loss, and
// both stop at the read of step 10 with the parameters of step 3.
func TestDataParallelBadRankSkipsEveryRank(t *testing.T) {
	c := ddpConfig(4, 1, 50)
	c.LogEvery = 5
	bad := c
	bad.BadSteps = BadStepConfig{MaxLoss: -1e9, After: 3, MaxConsecutive: 4}
	c.BadSteps.MaxConsecutive = 4
	comms := collective.NewLocalComms(2, 20*time.Second)
	control := collective.NewLocalComms(2, 20*time.Second)
	dir := t.TempDir()
	sums := make([]Summary, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r, cfg := range []Config{c, bad} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := Run{Config: cfg, Dir: dir, Log: zerolog.Nop(), Dist: &Distributed{Comm: comms[r], Control: control[r]}}
			sums[r], errs[r] = run.Train(context.Background())
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "step 10: 7 consecutive bad steps") {
			t.Fatalf("rank %d: %v; want a stop at the read of step 10, after 7 bad steps", r, err)
		}
	}
	c3 := c
	c3.Steps = 3
	ref := trainWorld(t, c3, 2, t.TempDir(), false)
	for r := range sums {
		if d := maxRelDiff(sums[r].Model, ref.Model); d != 0 {
			t.Fatalf("rank %d's parameters moved during skipped steps (max relative difference %g)", r, d)
		}
	}
}

// TestDataParallelStepNeverWaitsOnHost: a rank on a simulated device of
// its own, with log_every 10, synchronises with the host only to hand each
// gradient bucket to the host ring and once per logging step (the loss and
// skip counters); each step used to read every micro-batch's loss too.
func TestDataParallelStepNeverWaitsOnHost(t *testing.T) {
	c := ddpConfig(4, 1, 30)
	c.LogEvery = 10
	bes := make([]tensor.Backend, 2)
	for r, name := range []string{"devsim:5", "devsim:6"} {
		var err error
		if bes[r], err = device.Open(name); err != nil {
			t.Fatal(err)
		}
	}
	m, err := models.Build(c.ModelSpec(), bes[0], tensor.Float64, 1)
	if err != nil {
		t.Fatal(err)
	}
	red, err := newReducer(collective.NewLocalComms(1, time.Second)[0], m.Params(), 600, 1500)
	if err != nil {
		t.Fatal(err)
	}
	red.close()
	buckets := int64(len(red.buckets))
	comms := collective.NewLocalComms(2, 20*time.Second)
	control := collective.NewLocalComms(2, 20*time.Second)
	var at10 [2]tensor.TransferStats
	var syncs [2]int64
	dir := t.TempDir()
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := c
			cfg.Device = []string{"devsim:5", "devsim:6"}[r]
			d := &Distributed{Comm: comms[r], Control: control[r], FirstBucketBytes: 600, BucketBytes: 1500,
				OnStep: func(m DistStepMetrics) {
					switch m.Step {
					case 10:
						at10[r] = bes[r].Transfers()
					case 30:
						syncs[r] = bes[r].Transfers().Sub(at10[r]).HostSyncs
					}
				}}
			_, errs[r] = Run{Config: cfg, Dir: dir, Log: zerolog.Nop(), Dist: d}.Train(context.Background())
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	// Rank 1 writes no checkpoints: its steps 11-30 read 20 steps of
	// buckets and the statistics of steps 20 and 30.
	if want := 20*buckets + 2; syncs[1] != want {
		t.Fatalf("rank 1's steps 11-30 synchronised with the host %d times, want %d (%d buckets a step, 2 logging reads)", syncs[1], want, buckets)
	}
}
