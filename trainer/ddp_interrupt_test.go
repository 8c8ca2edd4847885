package trainer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/collective"
	"github.com/fdsm-go/fdsm/tensor"
)

// cancelAtComm cancels the run's context when the job's at-th collective
// (all-reduce or all-gather, counted over every rank) begins, as Ctrl-C does
// when it lands inside a collective: gradient buckets, and the control
// messages that share the communicator here.
type cancelAtComm struct {
	collective.Comm
	count  *atomic.Int64
	at     int64
	cancel context.CancelFunc
}

func (c cancelAtComm) AllReduce(ctx context.Context, buf *tensor.Tensor, op collective.ReduceOp) error {
	if c.count.Add(1) == c.at {
		c.cancel()
	}
	return c.Comm.AllReduce(ctx, buf, op)
}

func (c cancelAtComm) AllGather(ctx context.Context, send, recv *tensor.Tensor) error {
	if c.count.Add(1) == c.at {
		c.cancel()
	}
	return c.Comm.AllGather(ctx, send, recv)
}

// interruptAtEach runs world ranks of run(dir, comm) once for every
// collective of the job, cancelling their context when the at-th begins
// (counted over the ranks, as Ctrl-C landing inside a collective), and
// calls after with each interrupted run's directory and rank 0's summary.
// It returns after the first run that gets past the job's last collective.
func interruptAtEach(t *testing.T, world int, run func(dir string, comm collective.Comm) Run, after func(at int64, dir string, sum Summary)) {
	t.Helper()
	for at := int64(1); ; at++ {
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		comms := collective.NewLocalComms(world, 20*time.Second)
		var count atomic.Int64
		errs, sums := make([]error, world), make([]Summary, world)
		var wg sync.WaitGroup
		for r := range world {
			wg.Go(func() {
				comm := cancelAtComm{Comm: comms[r], count: &count, at: at, cancel: cancel}
				sums[r], errs[r] = run(dir, comm).Train(ctx)
			})
		}
		wg.Wait()
		cancel()
		if errs[0] == nil && count.Load() < at {
			return // past the run's last collective
		}
		if !errors.Is(errs[0], context.Canceled) {
			t.Fatalf("world %d, interrupt at collective %d: rank 0 returned %v", world, at, errs[0])
		}
		after(at, dir, sums[0])
	}
}

// sameFiles fails unless dir's newest checkpoint files are ref's.
func sameFiles(t *testing.T, what, dir string, ref map[string][]byte) {
	t.Helper()
	got := readCheckpointFiles(t, dir)
	for name, want := range ref {
		if !bytes.Equal(got[name], want) {
			t.Errorf("%s: final %s differs from the uninterrupted run's", what, name)
		}
	}
}

// TestInterruptAnywhereResumesExactly: a data-parallel run interrupted at
// any all-reduce (inside a step's collectives or between steps), then
// resumed, ends with checkpoint files byte for byte equal to an
// uninterrupted run's, for 2, 3 and 4 ranks. The interrupt checkpoint used to
// record the loader one batch ahead (the in-flight batch already drawn).
func TestInterruptAnywhereResumesExactly(t *testing.T) {
	const steps = 6
	for _, world := range []int{2, 3, 4} {
		c := ddpConfig(4, 1, steps)
		refDir := t.TempDir()
		trainWorld(t, c, world, refDir, false)
		ref := readCheckpointFiles(t, refDir)
		run := func(dir string, comm collective.Comm) Run {
			return Run{Config: c, Dir: dir, Log: zerolog.Nop(),
				Dist: &Distributed{Comm: comm, HashEvery: 1, FirstBucketBytes: 600, BucketBytes: 1500}}
		}
		interruptAtEach(t, world, run, func(at int64, dir string, _ Summary) {
			trainWorld(t, c, world, dir, true)
			sameFiles(t, fmt.Sprintf("world %d, interrupt at collective %d", world, at), dir, ref)
		})
	}
}

// readCheckpointFiles returns the newest checkpoint's model, optimizer and
// state files, whole.
func readCheckpointFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	list := listCheckpoints(dir)
	if len(list) == 0 {
		t.Fatalf("no checkpoint in %s", dir)
	}
	out := map[string][]byte{}
	for _, f := range []string{"model.safetensors", "optimizer.safetensors", "state.json"} {
		b, err := os.ReadFile(filepath.Join(list[0], f))
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(list[0])+"/"+f] = b
	}
	return out
}

// TestInterruptReachingRanksApartIsNoFailure: Ctrl-C reaches rank 1 first,
// inside a collective, and rank 0 a moment later (as a launcher's signal
// may); rank 1's abort fails rank 0's collective before its own interrupt
// lands. Rank 0 must still end as interrupted (exit 130 in the CLI), not
// failed: it waits for its interrupt instead of reporting the aborted
// collective.
func TestInterruptReachingRanksApartIsNoFailure(t *testing.T) {
	c := ddpConfig(4, 1, 100000)
	dir := t.TempDir()
	comms := collective.NewLocalComms(2, 20*time.Second)
	ctx0, cancel0 := context.WithCancel(context.Background())
	ctx1, cancel1 := context.WithCancel(context.Background())
	defer cancel0()
	var count atomic.Int64
	signal := func() {
		cancel1() // rank 1's signal lands inside its collective
		go func() { time.Sleep(300 * time.Millisecond); cancel0() }()
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r, ctx := range []context.Context{ctx0, ctx1} {
		wg.Go(func() {
			comm := comms[r]
			if r == 1 {
				comm = cancelAtComm{Comm: comms[1], count: &count, at: 60, cancel: signal}
			}
			run := Run{Config: c, Dir: dir, Log: zerolog.Nop(), Dist: &Distributed{Comm: comm}}
			_, errs[r] = run.Train(ctx)
		})
	}
	wg.Wait()
	for r, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("rank %d: %v; want the interrupt (context.Canceled)", r, err)
		}
	}
}
