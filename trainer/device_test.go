package trainer

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/device"
	"github.com/fdsm-go/fdsm/tensor"
)

// TestDevsimTrainsLikeCPU: training on the strict simulated device gives
// checkpoints byte for byte equal to the CPU's (the same kernels and Philox
// draws; only the config's device differs), for the objectives' families;
// it fails if any step reads device memory outside a declared copy, which
// devsim refuses.
func TestDevsimTrainsLikeCPU(t *testing.T) {
	for _, obj := range []string{"fd-ssm", "dsm", "ssm", "fd-dsm", "ssmvr"} {
		c := toyConfig(obj, 6)
		c.Checkpoint.Every, c.Device = 3, "cpu"
		cpuDir, simDir := t.TempDir(), t.TempDir()
		train(t, c, cpuDir, false)
		c.Device = "devsim:1"
		train(t, c, simDir, false)
		a, b := readCheckpointFiles(t, cpuDir), readCheckpointFiles(t, simDir)
		for name, want := range a {
			got := b[name]
			if strings.HasSuffix(name, "state.json") {
				// The recorded config names the device.
				got = bytes.Replace(got, []byte(`"device": "devsim:1"`), []byte(`"device": "cpu"`), 1)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: %s differs between cpu and devsim:1", obj, name)
			}
		}
	}
}

// TestDevsimDataParallel: two ranks on simulated devices (the gradient
// buckets leave the device for the host ring by declared copies) end where
// two CPU ranks do, byte for byte.
func TestDevsimDataParallel(t *testing.T) {
	c := ddpConfig(4, 1, 4)
	c.Device = "cpu"
	cpuDir, simDir := t.TempDir(), t.TempDir()
	trainWorld(t, c, 2, cpuDir, false)
	c.Device = "devsim:2"
	trainWorld(t, c, 2, simDir, false)
	a, b := readCheckpointFiles(t, cpuDir), readCheckpointFiles(t, simDir)
	for name, want := range a {
		got := b[name]
		if strings.HasSuffix(name, "state.json") {
			got = bytes.Replace(got, []byte(`"device": "devsim:2"`), []byte(`"device": "cpu"`), 1)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs between cpu and devsim:2 ranks", name)
		}
	}
}

// TestStepNeverWaitsOnHost: with log_every 10 a step of one process only
// enqueues work; the host synchronises once per logging step (reading the
// loss, norm and skip counters) and copies nothing to the device but the
// input batches. The loop used to read every micro-batch's loss and every
// parameter's gradient norm (4 syncs a step for this two-layer MLP).
func TestStepNeverWaitsOnHost(t *testing.T) {
	c := toyConfig("fd-ssm", 30)
	c.Device, c.LogEvery, c.ClipNorm = "devsim:4", 10, 1
	be, err := device.Open(c.Device)
	if err != nil {
		t.Fatal(err)
	}
	var at10 tensor.TransferStats
	var logged []int
	run := Run{Config: c, Dir: t.TempDir(), Log: zerolog.Nop(), OnStep: func(m StepMetrics) {
		logged = append(logged, m.Step)
		if m.Step == 10 {
			at10 = be.Transfers()
		}
		if m.Step == 30 {
			d := be.Transfers().Sub(at10)
			if d.HostSyncs != 2 {
				t.Errorf("steps 11-30 synchronised with the host %d times, want 2 (steps 20 and 30)", d.HostSyncs)
			}
			batch := int64(c.Batch * 2 * 8) // 128 float64 points of the plane
			if d.H2DBytes > 20*batch {
				t.Errorf("steps 11-30 copied %d bytes to the device, more than their 20 batches (%d)", d.H2DBytes, 20*batch)
			}
		}
	}}
	if _, err := run.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(logged, []int{10, 20, 30}) {
		t.Fatalf("OnStep saw steps %v, want the logging steps 10, 20, 30", logged)
	}
}

// TestBadStepsSkippedBetweenReads: with log_every 5 the backend skips bad
// steps as they happen (no NaN reaches the parameters) and the run stops
// at the first read after bad_steps.max_consecutive of them, counting all.
func TestBadStepsSkippedBetweenReads(t *testing.T) {
	dir := t.TempDir()
	c := toyConfig("fd-ssm", 50)
	c.LogEvery, c.Schedule = 5, ScheduleConfig{Kind: "constant"}
	c.BadSteps = BadStepConfig{MaxLoss: -1e9, After: 3, MaxConsecutive: 4} // every loss is "too large" from step 4
	var seen []StepMetrics
	sum, err := Run{Config: c, Dir: dir, Log: zerolog.Nop(), OnStep: func(m StepMetrics) { seen = append(seen, m) }}.Train(context.Background())
	if err == nil || !strings.Contains(err.Error(), "step 10: 7 consecutive bad steps") {
		t.Fatalf("err = %v; want a stop at the read of step 10, after 7 bad steps", err)
	}
	if len(seen) != 1 || seen[0].Step != 5 || !seen[0].Skipped {
		t.Fatalf("logged %+v; want step 5, with skipped steps", seen)
	}
	// Steps 4-10 were skipped: the parameters are those after step 3.
	c3 := c
	c3.Steps, c3.BadSteps = 3, BadStepConfig{MaxLoss: 1e8, MaxConsecutive: 10}
	ref := train(t, c3, t.TempDir(), false)
	for i, p := range ref.Model.Params() {
		if !slices.Equal(p.Value.ToFloat64s(), sum.Model.Params()[i].Value.ToFloat64s()) {
			t.Fatalf("%s moved during skipped steps", p.Name)
		}
	}
}
