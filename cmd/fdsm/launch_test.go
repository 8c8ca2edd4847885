package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/bus"
	"github.com/fdsm-go/fdsm/cluster"
)

func TestLaunchRunsWorkers(t *testing.T) {
	dir := t.TempDir()
	_, stderr, err := execute(t, newRootCmd(), "launch", "--nproc-per-node", "2", "--gossip-port", "0",
		"--host", "127.0.0.1", "--job", "cli-test", "--log-dir", dir, "--env", envRunMain+"=1",
		"--", "version")
	if err != nil {
		t.Fatalf("launch: %v\n%s", err, stderr)
	}
	for _, want := range []string{"fdsm launch: job cli-test (node 0 of 1), 2 workers here, no restarts",
		"worker 0: rank 0, gossip 127.0.0.1:", "worker 1: rank 1, gossip 127.0.0.1:",
		filepath.Join(dir, "worker-0-1.log")} {
		if !strings.Contains(stderr, want) {
			t.Errorf("summary lacks %q:\n%s", want, stderr)
		}
	}
	for _, name := range []string{"worker-0-0.log", "worker-0-1.log"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "\nfdsm ") || !strings.Contains(string(b), "exit status 0") {
			t.Errorf("%s does not show fdsm version output:\n%s", name, b)
		}
	}
}

func TestLaunchFlagErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"launch", "--nproc-per-node", "2"}, "missing the fdsm command"},
		{[]string{"launch", "--", "launch", "train"}, "cannot be launch itself"},
		{[]string{"launch", "--nnodes", "2", "--min-nodes", "1", "--", "train"}, "conflicts"},
		{[]string{"launch", "--nnodes", "1:4", "--max-nodes", "4", "--", "train"}, "conflicts"},
		{[]string{"launch", "--nnodes", "3:2", "--job", "j", "--seeds", "a", "--", "train"}, "larger than --max-nodes"},
		{[]string{"launch", "--nnodes", "two", "--", "train"}, "want N or MIN:MAX"},
		{[]string{"launch", "--nproc-per-node", "0", "--", "train"}, "at least 1"},
		{[]string{"launch", "--nnodes", "2", "--node-rank", "2", "--job", "j", "--seeds", "a", "--", "train"},
			"outside [0, 2)"},
		{[]string{"launch", "--seeds", "a:b", "--", "train"}, `seed "a:b"`},
	}
	for _, tc := range cases {
		_, _, err := execute(t, newRootCmd(), tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to contain %q", tc.args, err, tc.want)
		}
	}
}

func TestLaunchWithoutDash(t *testing.T) {
	// Flags after the command belong to the command, not to launch.
	_, _, err := execute(t, newRootCmd(), "launch", "--nproc-per-node", "0", "train", "--config", "x.yaml")
	if err == nil || !strings.Contains(err.Error(), "at least 1") {
		t.Errorf("err = %v: launch should stop parsing its flags at the command", err)
	}
}

// launchTrainArgs launches two workers of the toy job for steps steps into
// out: loopback gossip on free ports, fast failure detection, no bus.
func launchTrainArgs(job, out string, steps int) []string {
	return []string{"launch", "--nproc-per-node", "2", "--gossip-port", "0", "--host", "127.0.0.1", "--job", job,
		"--env", envRunMain + "=1", "--env", cluster.EnvGossipProfile + "=fast", "--env", bus.EnvNoBus + "=1",
		"--", "train", "--config", "../../configs/small-ebm-toy-fdssm.yaml", "--out", out,
		"--set", fmt.Sprintf("steps=%d", steps), "--set", "checkpoint.every=100", "--log-format", "json"}
}

// TestLaunchShowsProgressAndSummary: a launched job of two workers shows
// its progress on the launcher's console (drawn: the console is not a
// file) and ends with a summary of the outcome, the steps and final loss,
// the elapsed time, each worker's restarts, and where logs and run are.
func TestLaunchShowsProgressAndSummary(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	out := filepath.Join(t.TempDir(), "run")
	const steps = 300
	_, stderr, err := execute(t, newRootCmd(), launchTrainArgs("progress-test", out, steps)...)
	if err != nil {
		t.Fatalf("launch: %v\n%s", err, stderr)
	}
	last := lastMetricsLine(t, out)
	if last.Step != steps {
		t.Fatalf("metrics end at step %d", last.Step)
	}
	for _, want := range []string{
		"train: 300 optimizer steps, batch 256 per rank, global batch 512 (batch x 2 ranks) per step",
		"job [========================] 100% 300/300 step",
		"fdsm launch: job progress-test finished after ",
		fmt.Sprintf(": step 300 of 300, final loss %.6g\n", last.Loss),
		"workers: 0 (rank 0) exit status 0, 0 restarts; 1 (rank 1) exit status 0, 0 restarts",
		"logs: " + filepath.Join(out, "logs") + "; run directory: " + out + "\n",
		"job secret: made for this job (data plane, gossip, bus), in " + filepath.Join(out, "logs", cluster.JobSecretFileName) +
			"; watch with: fdsm watch --job progress-test --job-secret-file ",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("console lacks %q:\n%s", want, stderr)
		}
	}
	if !regexp.MustCompile(`finished after [0-9]+\.[0-9] s \([0-9]+:[0-9]{2}\)`).MatchString(stderr) {
		t.Errorf("no elapsed time with its unit:\n%s", stderr)
	}
}

// lastMetricsLine reads the run's last metrics record.
func lastMetricsLine(t *testing.T, out string) (m struct {
	Step int
	Loss float64
}) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestLaunchCtrlCExits130: Ctrl-C on the launcher stops the workers, which
// checkpoint and exit 130; the launcher then prints its summary and exits
// 130 itself, with no error line.
func TestLaunchCtrlCExits130(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	out := filepath.Join(t.TempDir(), "run")
	c := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, launchTrainArgs("ctrlc-test", out, 1000000)...)...)
	c.Env = append(os.Environ(), envRunMain+"=1")
	var stderr syncBuffer
	c.Stdout, c.Stderr = &stderr, &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	defer c.Process.Kill()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if b, _ := os.ReadFile(filepath.Join(out, "metrics.jsonl")); bytes.Count(b, []byte("\n")) >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no steps after 60 s:\n%s", stderr.String())
		}
	}
	if err := c.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("still running 60 s after SIGINT:\n%s", stderr.String())
	}
	log := stderr.String()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("exit: %v, want status %d\n%s", err, exitInterrupted, log)
	}
	if strings.Contains(log, "Error:") {
		t.Errorf("an interrupt printed an error line:\n%s", log)
	}
	for _, want := range []string{"fdsm launch: job ctrlc-test interrupted after", "of 1000000, last loss",
		"workers: 0 (rank 0) exit status 130, 0 restarts; 1 (rank 1) exit status 130, 0 restarts",
		"(continue: the same command with train --resume)"} {
		if !strings.Contains(log, want) {
			t.Errorf("console lacks %q:\n%s", want, log)
		}
	}
}
