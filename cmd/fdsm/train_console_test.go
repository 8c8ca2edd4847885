package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/trainer"
)

// toyTrainArgs trains the small mixture config: seconds per thousand steps.
func toyTrainArgs(out string, steps string) []string {
	return []string{"train", "--config", "../../configs/small-ebm-toy-fdssm.yaml", "--out", out, "--set", "steps=" + steps,
		"--set", "checkpoint.every=0", "--log-format", "json"}
}

// TestCtrlCExits130: Ctrl-C (SIGINT) during training writes a checkpoint,
// logs where it is, and exits 130 without an error line (it used to exit 1
// with "Error: context canceled").
func TestCtrlCExits130(t *testing.T) {
	if testing.Short() {
		t.Skip("runs fdsm as a process")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "run")
	c := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, toyTrainArgs(out, "1000000")...)...)
	c.Env = append(os.Environ(), envRunMain+"=1")
	var stderr bytes.Buffer
	c.Stdout, c.Stderr = &stderr, &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	// Interrupt once steps are being written.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, _ := os.ReadFile(filepath.Join(out, "metrics.jsonl")); bytes.Count(b, []byte("\n")) >= 5 {
			break
		}
		if time.Now().After(deadline) {
			c.Process.Kill()
			t.Fatalf("no steps after 60 s:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		c.Process.Kill()
		t.Fatalf("still running 60 s after SIGINT:\n%s", stderr.String())
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("exit: %v, want status %d\n%s", err, exitInterrupted, stderr.String())
	}
	log := stderr.String()
	if strings.Contains(log, "Error:") || strings.Contains(log, "context canceled") {
		t.Errorf("an interrupt printed an error line:\n%s", log)
	}
	if !strings.Contains(log, "interrupted; checkpoint written") {
		t.Errorf("no interrupt message:\n%s", log)
	}
	cks, _ := filepath.Glob(filepath.Join(out, "checkpoints", "step-*", "model.safetensors"))
	if len(cks) != 1 || !strings.Contains(log, filepath.Dir(cks[0])) {
		t.Errorf("checkpoints %v; the log must name the one written:\n%s", cks, log)
	}
}

// TestResumeCompleteRun: --resume on a finished run says it is complete,
// exits 0 and touches nothing (it used to rewrite the last checkpoint,
// redraw the samples and print "final loss 0").
func TestResumeCompleteRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	if _, stderr, err := execute(t, newRootCmd(), toyTrainArgs(out, "20")...); err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	before := treeState(t, out)
	stdout, stderr, err := execute(t, newRootCmd(), append(toyTrainArgs(out, "20"), "--resume")...)
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "is complete (20 steps") || strings.Contains(stdout, "final loss") {
		t.Errorf("stdout %q: want the run reported complete", stdout)
	}
	if after := treeState(t, out); after != before {
		t.Errorf("resume of a complete run changed %s:\nbefore\n%s\nafter\n%s", out, before, after)
	}
}

// treeState lists every file under dir with its size and modification time.
func treeState(t *testing.T, dir string) string {
	t.Helper()
	var sb strings.Builder
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintf(&sb, "%s %d %s\n", p, info.Size(), info.ModTime())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sb.String()
}

// TestFailedRunNeverShowsComplete: a run that fails in set-up draws no
// progress line at all, and one that fails after some steps leaves the line
// where it stood, marked failed (a missing MNIST used to jump the bar to
// "100% (1500/1500, 497512438 step/s)" before the error).
func TestFailedRunNeverShowsComplete(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	_, stderr, err := execute(t, newRootCmd(), "train", "--out", out, "--set", "data.dir="+t.TempDir(), "--set", "steps=5",
		"--set", "schedule.warmup=0")
	if err == nil {
		t.Fatal("training on a directory without MNIST succeeded")
	}
	if strings.Contains(stderr, "train [") || strings.Contains(stderr, "%") {
		t.Errorf("a set-up failure drew a progress line:\n%s", stderr)
	}
	// Every step's loss is "too large" from the start: three skips in a row
	// stop the run at step 3; the line shows the two steps reported.
	_, stderr, err = execute(t, newRootCmd(), append(toyTrainArgs(filepath.Join(t.TempDir(), "run"), "50"),
		"--set", "bad_steps.max_loss=1e-30", "--set", "bad_steps.after=0", "--set", "bad_steps.max_consecutive=3")...)
	if err == nil {
		t.Fatal("a run with only bad steps succeeded")
	}
	if strings.Contains(stderr, "100%") || !strings.Contains(stderr, "2/50 step") || !strings.Contains(stderr, "(failed)") {
		t.Errorf("a failed run's progress line must stop at 2/50, marked failed:\n%s", stderr)
	}
}

// TestInterruptMessages: an interrupted rank other than 0 says that rank 0
// writes the checkpoint (it logged "checkpoint written" with an empty
// path); rank 0 names the checkpoint it wrote.
func TestInterruptMessages(t *testing.T) {
	for _, tc := range []struct {
		sum       trainer.Summary
		want, not string
	}{
		{trainer.Summary{Rank: 1, Steps: 7}, `"message":"interrupted; rank 0 writes the checkpoint"`, `"checkpoint"`},
		{trainer.Summary{Rank: 0, Steps: 7, Checkpoint: "runs/x/checkpoints/step-00000007"},
			`"checkpoint":"runs/x/checkpoints/step-00000007"`, `"checkpoint":""`},
	} {
		var buf bytes.Buffer
		if err := setupLogger(&buf, logOptions{level: "info", format: "json"}); err != nil {
			t.Fatal(err)
		}
		cmd := newRootCmd()
		err := trainOutcome(cmd, tc.sum, context.Canceled, nil)
		if !errors.Is(err, errInterrupted) || !cmd.SilenceErrors {
			t.Errorf("%+v: err %v (silenced %v), want errInterrupted with no error line", tc.sum, err, cmd.SilenceErrors)
		}
		if log := buf.String(); !strings.Contains(log, tc.want) || strings.Contains(log, tc.not) {
			t.Errorf("%+v logged %s; want %s and not %s", tc.sum, log, tc.want, tc.not)
		}
	}
}
