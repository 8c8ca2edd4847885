package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
