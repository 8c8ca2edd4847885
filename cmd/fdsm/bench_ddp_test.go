package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/bench"
	"github.com/fdsm-go/fdsm/cluster"
	"github.com/fdsm-go/fdsm/launch"
)

// ddpTestOptions runs the benchmark's workers as this test binary playing
// fdsm (TestMain), on the toy model, briefly.
func ddpTestOptions(t *testing.T) bench.DDPOptions {
	return bench.DDPOptions{
		NP: []int{1, 2}, Batch: 8, Warmup: 2, Steps: 8, Model: "toy",
		Worker:  []string{os.Args[0], "-test.run=^$", "--"},
		Env:     []string{envRunMain + "=1"},
		Dir:     filepath.Join(t.TempDir(), "runs"), // created by DDP
		Timeout: 60 * time.Second,
	}
}

// TestBenchDDP runs real data-parallel jobs of 1 and 2 workers and checks
// the figures are sane (never their size: the machine is shared).
func TestBenchDDP(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	var progress []string
	opts := ddpTestOptions(t)
	opts.Progress = func(m string) { progress = append(progress, m) }
	res, err := bench.DDP(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Results) != 2 || res.BaselineNP != 1 || res.BatchPerRank != 8 || res.Params <= 0 ||
		res.GradBytes != 4*res.Params || res.CPUs < 1 {
		t.Fatalf("result %+v", res)
	}
	for i, r := range res.Results {
		if r.NP != opts.NP[i] || r.Steps < 4 || r.Steps > 8 || r.GOMAXPROCS < 1 {
			t.Errorf("np %d: row %+v", opts.NP[i], r)
		}
		if r.StepMs <= 0 || r.ComputeMs <= 0 || r.CollectiveWaitMs < 0 || r.DataWaitMs < 0 || r.OtherMs < 0 ||
			r.ArrivalSkewMs < 0 || r.WallStepMs <= 0 || r.SamplesPerSec <= 0 {
			t.Errorf("np %d: bad times %+v", r.NP, r)
		}
		if r.ComputeMs > r.StepMs*1.0001 {
			t.Errorf("np %d: compute %v ms above the iteration's %v", r.NP, r.ComputeMs, r.StepMs)
		}
		if r.Efficiency <= 0 || r.Efficiency > 1.5 {
			t.Errorf("np %d: efficiency %v outside (0, 1.5]", r.NP, r.Efficiency)
		}
	}
	if r := res.Results[0]; r.Efficiency != 1 || r.Speedup != 1 || r.ArrivalSkewMs != 0 {
		t.Errorf("baseline row %+v", r)
	}
	if len(progress) == 0 || !strings.Contains(strings.Join(progress, "\n"), "np 2: starting 2 workers") {
		t.Errorf("progress: %q", progress)
	}
	if !strings.Contains(res.String(), "efficiency against np 1") {
		t.Errorf("table:\n%s", res)
	}
}

// TestBenchDDPWorkerFails: a worker that fails ends the benchmark with an
// error that shows the worker's own error from its log.
func TestBenchDDPWorkerFails(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	opts := ddpTestOptions(t)
	opts.NP = []int{2}
	opts.Env = append(opts.Env, cluster.EnvCollTimeout+"=soon")
	_, err := bench.DDP(context.Background(), opts)
	var we *launch.WorkerError
	if !errors.As(err, &we) {
		t.Fatalf("err %v, want a *launch.WorkerError", err)
	}
	for _, want := range []string{"np 2:", "failed with exit status 1", "last", cluster.EnvCollTimeout + `="soon": not a duration`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// TestBenchDDPFlags: bad flags are refused before anything starts.
func TestBenchDDPFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--np", "0"}, {"--np", ""}, {"--batch", "0"}, {"--steps", "0"}, {"--warmup", "-1"}, {"--rounds", "0"},
	} {
		cmd := newRootCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append([]string{"bench", "ddp"}, args...))
		if err := cmd.Execute(); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"bench", "ddp", "--model", "nope", "--np", "1"})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "unknown model") {
		t.Errorf("--model nope: %v", err)
	}
}
