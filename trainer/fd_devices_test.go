package trainer

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/collective"
)

// TestFDDevicesTrainLikeOneDevice: training with each FD objective's
// evaluations spread over a group of 2, 3 or 4 devices (logical CPUs or
// simulated devices; parallel.fd_devices) follows the one-device run: the
// logged losses and the final parameters agree to 1e-9 relative in float64
// after 8 steps (each step's gradient agrees to about 1e-12, and eight SGD
// steps do not amplify that a thousandfold). SGD rather than Adam: the
// last layer's bias cannot change an FD objective (it shifts log p~ by a
// constant), so its gradient is rounding noise, which Adam's normalisation
// would turn into steps of its own; and a rate small enough that no run
// diverges (fd-mdsm's paper-scaled loss is in the thousands), since a
// diverging run amplifies any difference. Accumulation is exercised on the
// 3-device runs.
func TestFDDevicesTrainLikeOneDevice(t *testing.T) {
	for _, obj := range []string{"fd-ssm", "fd-dsm", "fd-mdsm", "fd-ssm-stencil"} {
		for _, lead := range []string{"cpu", "devsim:1"} {
			for _, k := range []int{2, 3, 4} {
				c := toyConfig(obj, 8)
				c.Device, c.Batch, c.LogEvery = lead, 32, 1
				c.Optimizer = OptimizerConfig{Kind: "sgd", LR: 1e-3, Momentum: 0.9}
				if k == 3 {
					c.Accumulate = 2
				}
				ref, refLosses := trainLogged(t, c)
				c.Parallel.FDDevices = k
				got, losses := trainLogged(t, c)
				what := fmt.Sprintf("%s over %d devices from %s", obj, k, lead)
				for i := range refLosses {
					if !closeRel(losses[i], refLosses[i], 1e-9) {
						t.Fatalf("%s: step %d loss %v, one device %v", what, i+1, losses[i], refLosses[i])
					}
				}
				if d := maxRelDiff(got.Model, ref.Model); d > 1e-9 {
					t.Fatalf("%s: final parameters differ from one device's by %g", what, d)
				}
			}
		}
	}
}

func closeRel(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(math.Abs(b), 1e-300) }

// trainLogged trains c and returns its summary and every step's loss.
func trainLogged(t *testing.T, c Config) (Summary, []float64) {
	t.Helper()
	var losses []float64
	s, err := Run{Config: c, Dir: t.TempDir(), Log: zerolog.Nop(), OnStep: func(m StepMetrics) { losses = append(losses, m.Loss) }}.Train(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s, losses
}

// TestFDDevicesWithDataParallel: two data-parallel ranks, each spreading
// its evaluations over a group of two devices, end where two ranks on one
// device each do (hierarchical: the group's gradients are gathered, then
// averaged across ranks).
func TestFDDevicesWithDataParallel(t *testing.T) {
	c := ddpConfig(4, 1, 6)
	c.Objective.Name = "fd-ssm"
	ref := trainWorld(t, c, 2, t.TempDir(), false)
	errs := make([]error, 2)
	sums := make([]Summary, 2)
	comms := collective.NewLocalComms(2, 20*time.Second)
	dir := t.TempDir()
	var wg sync.WaitGroup
	for r := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := c
			cfg.Device, cfg.Parallel.FDDevices = []string{"cpu", "cpu:3"}[r], 2
			sums[r], errs[r] = Run{Config: cfg, Dir: dir, Log: zerolog.Nop(), Dist: &Distributed{Comm: comms[r], HashEvery: 1}}.Train(context.Background())
		}()
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	if d := maxRelDiff(sums[0].Model, ref.Model); d > 1e-9 {
		t.Fatalf("data parallel over device groups differs from plain data parallel by %g", d)
	}
}

// TestFDDevicesRefusals: a group needs an FD objective and devices that
// exist.
func TestFDDevicesRefusals(t *testing.T) {
	c := toyConfig("ssm", 2)
	c.Parallel.FDDevices = 2
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "not one (fd-ssm") {
		t.Errorf("an exact objective over a device group: %v", err)
	}
	c = toyConfig("fd-ssm", 2)
	c.Device, c.Parallel.FDDevices = "devsim:6", 3
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "devsim:8") {
		t.Errorf("a group past the last device: %v", err)
	}
}

// TestFDDevicesResumeExactly: a run over a device group stopped after 3
// steps and resumed for 3 more ends with checkpoint files byte for byte
// those of 6 uninterrupted steps (the lead's state is the run's;
// the replicas take it again when the run starts), alone and as two
// data-parallel ranks of two devices each.
func TestFDDevicesResumeExactly(t *testing.T) {
	c := toyConfig("fd-ssm", 6)
	c.Batch, c.Parallel.FDDevices, c.Schedule = 32, 3, ScheduleConfig{Kind: "constant"}
	d := ddpConfig(8, 1, 6)
	d.Objective.Name, d.Parallel.FDDevices = "fd-ssm", 2
	for _, world := range []int{1, 2} {
		cfg := c
		if world > 1 {
			cfg = d
		}
		run := func(cfg Config, dir string, resume bool) {
			if world == 1 {
				train(t, cfg, dir, resume)
			} else {
				trainWorld(t, cfg, world, dir, resume)
			}
		}
		refDir, dir := t.TempDir(), t.TempDir()
		run(cfg, refDir, false)
		first := cfg
		first.Steps = 3
		run(first, dir, false)
		run(cfg, dir, true)
		ref, got := readCheckpointFiles(t, refDir), readCheckpointFiles(t, dir)
		for name, want := range ref {
			if !bytes.Equal(got[name], want) {
				t.Errorf("world %d: %s differs from the uninterrupted run's", world, name)
			}
		}
	}
}
