package main

import (
	"bytes"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// TestTrainRunDirectorySafety: train over an existing run refuses with
// exit 2 and names --resume and --overwrite; --overwrite moves the old run
// aside; a resume that cannot load the checkpoints exits 2 and changes
// nothing; a model that does not fit the data writes no run directory.
func TestTrainRunDirectorySafety(t *testing.T) {
	out := filepath.Join(t.TempDir(), "toy")
	toy := []string{"train", "--config", "../../configs/small-ebm-toy-fdssm.yaml", "--set", "steps=4", "--out", out, "--no-progress"}
	if _, err := runCLI(t, toy...); err != nil {
		t.Fatal(err)
	}
	metrics := func() string {
		b, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	first := metrics()

	_, err := runCLI(t, toy...)
	if code := exitCode(err); code != exitUsage || !strings.Contains(err.Error(), "--overwrite") || !strings.Contains(err.Error(), out) {
		t.Fatalf("train over a run: exit %d, %v; want exit %d naming %s and --overwrite", code, err, exitUsage, out)
	}
	if metrics() != first {
		t.Fatal("the refused run appended to metrics.jsonl")
	}

	_, err = runCLI(t, append(toy, "--resume", "--set", "steps=8", "--set", "model.hidden=[7]")...)
	if code := exitCode(err); code != exitUsage || !strings.Contains(err.Error(), "step-00000004") {
		t.Fatalf("resume with another model: exit %d, %v; want exit %d naming the checkpoint", code, err, exitUsage)
	}
	if metrics() != first {
		t.Fatal("the failed resume appended to metrics.jsonl")
	}

	if _, err := runCLI(t, append(toy, "--overwrite")...); err != nil {
		t.Fatalf("--overwrite: %v", err)
	}
	old, _ := filepath.Glob(out + ".old-*")
	if len(old) != 1 {
		t.Fatalf("old runs %v, want one", old)
	}
	if b, err := os.ReadFile(filepath.Join(old[0], "metrics.jsonl")); err != nil || string(b) != first {
		t.Fatalf("the old run's metrics were not kept: %v", err)
	}
	if _, err := runCLI(t, append(toy, "--overwrite", "--resume")...); exitCode(err) != exitUsage {
		t.Fatalf("--overwrite with --resume: %v", err)
	}

	fresh := filepath.Join(t.TempDir(), "new")
	_, err = runCLI(t, "train", "--config", "../../configs/small-ebm-toy-fdssm.yaml", "--set", "model.input_dim=3", "--out", fresh, "--no-progress")
	if err == nil {
		t.Fatal("a 3-input model trained on 2-D data")
	}
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the failed run left a directory: %v", err)
	}
}

// TestExitCodes: 0, 1 for failures, 2 for refused input, 130 for Ctrl-C.
func TestExitCodes(t *testing.T) {
	if exitCode(nil) != 0 || exitCode(errors.New("disk full")) != 1 || exitCode(errInterrupted) != exitInterrupted {
		t.Fatal("basic exit codes")
	}
	_, err := runCLI(t, "train", "--set", "optimizer.lr=abc", "--out", t.TempDir(), "--no-progress")
	if exitCode(err) != exitUsage {
		t.Fatalf("a bad config: exit %d (%v), want %d", exitCode(err), err, exitUsage)
	}
	for _, args := range [][]string{{"train", "--no-such-flag"}, {"launch", "--nproc-per-node", "two", "--", "train"}} {
		if _, err := runCLI(t, args...); exitCode(err) != exitUsage {
			t.Errorf("%v: exit %d (%v), want %d", args, exitCode(err), err, exitUsage)
		}
	}
}

// TestLaunchRefusesExistingRun: a data-parallel job started again over its
// run without --resume fails on rank 0's refusal, without restarts (a
// restarted worker resumes, which would continue the run the user did not
// ask to continue), and leaves the run as it was.
func TestLaunchRefusesExistingRun(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	out := filepath.Join(t.TempDir(), "run")
	if _, stderr, err := execute(t, newRootCmd(), launchTrainArgs("refuse-test", out, 20)...); err != nil {
		t.Fatalf("launch: %v\n%s", err, stderr)
	}
	before, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, err := execute(t, newRootCmd(), launchTrainArgs("refuse-test", out, 40)...)
	if exitCode(err) != exitUsage {
		t.Fatalf("a second launch over the run: exit %d (%v), want %d:\n%s", exitCode(err), err, exitUsage, stderr)
	}
	if !strings.Contains(stderr, "--overwrite") || !strings.Contains(stderr, "exit status 2, 0 restarts") {
		t.Errorf("console should show rank 0's refusal and no restart:\n%s", stderr)
	}
	if after, _ := os.ReadFile(filepath.Join(out, "metrics.jsonl")); string(after) != string(before) {
		t.Error("the refused job changed metrics.jsonl")
	}
	if ck := listStepDirs(t, out); len(ck) == 0 || ck[len(ck)-1] != "step-00000020" {
		t.Errorf("checkpoints %v: want the first job's, ending at step 20", ck)
	}
}

func listStepDirs(t *testing.T, out string) []string {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(out, "checkpoints"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestEvalRefusesNonFiniteModel: eval of a checkpoint holding NaN fails,
// naming the file and the tensor, with exit 2 (it printed sm_loss: NaN and
// exited 0).
func TestEvalRefusesNonFiniteModel(t *testing.T) {
	out := filepath.Join(t.TempDir(), "toy")
	if _, err := runCLI(t, "train", "--config", "../../configs/small-ebm-toy-fdssm.yaml", "--set", "steps=3", "--out", out, "--no-progress"); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(out, "checkpoints", "step-00000003", "model.safetensors")
	m, err := models.LoadCheckpoint(file, tensor.DefaultCPU(), 0)
	if err != nil {
		t.Fatal(err)
	}
	p := m.Params()[0]
	v := p.Value.ToFloat64s()
	v[0] = math.Inf(1)
	tensor.WriteAs(p.Value, v)
	if err := models.SaveCheckpoint(file, m, nil); err != nil {
		t.Fatal(err)
	}
	_, err = runCLI(t, "eval", out, "--what", "sm", "--data", "toy:gmm2d-8", "--batches", "1", "--batch-size", "4")
	if exitCode(err) != exitUsage || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), p.Name) {
		t.Fatalf("eval of an Inf model: exit %d, %v; want %d naming %s and %s", exitCode(err), err, exitUsage, file, p.Name)
	}
}

// TestLaunchCtrlCResumesExactly: Ctrl-C on `fdsm launch --nproc-per-node 2`
// mid-run, then the same command with --resume, ends with checkpoint files
// byte for byte equal to an uninterrupted job's (the interrupt checkpoint
// used to record the loader one batch ahead).
func TestLaunchCtrlCResumesExactly(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	const steps = 400
	ref := filepath.Join(t.TempDir(), "ref")
	if _, stderr, err := execute(t, newRootCmd(), launchTrainArgs("exact-ref", ref, steps)...); err != nil {
		t.Fatalf("uninterrupted job: %v\n%s", err, stderr)
	}
	out := filepath.Join(t.TempDir(), "run")
	c := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, launchTrainArgs("exact-cut", out, steps)...)...)
	c.Env = append(os.Environ(), envRunMain+"=1")
	var log syncBuffer
	c.Stdout, c.Stderr = &log, &log
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if b, _ := os.ReadFile(filepath.Join(out, "metrics.jsonl")); bytes.Count(b, []byte("\n")) >= 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no steps after 60 s:\n%s", log.String())
		}
	}
	c.Process.Signal(syscall.SIGINT)
	err := c.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		if err == nil {
			t.Skipf("the job finished before the interrupt landed:\n%s", log.String())
		}
		t.Fatalf("interrupted job: %v\n%s", err, log.String())
	}
	if _, stderr, err := execute(t, newRootCmd(), append(launchTrainArgs("exact-cut", out, steps), "--resume")...); err != nil {
		t.Fatalf("resumed job: %v\n%s", err, stderr)
	}
	last := func(dir string) string {
		ents, _ := os.ReadDir(filepath.Join(dir, "checkpoints"))
		if len(ents) == 0 {
			t.Fatalf("no checkpoints in %s", dir)
		}
		return filepath.Join(dir, "checkpoints", ents[len(ents)-1].Name())
	}
	for _, f := range []string{"model.safetensors", "optimizer.safetensors", "state.json"} {
		a, errA := os.ReadFile(filepath.Join(last(ref), f))
		b, errB := os.ReadFile(filepath.Join(last(out), f))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("final %s differs from the uninterrupted job's (%v, %v)", f, errA, errB)
		}
	}
}
