package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/bus"
)

// TestSingleProcessRunOnTheBus: `fdsm train --nats-url` publishes its steps,
// `fdsm watch --once` shows the single rank, and `fdsm ctl stop` (signed
// with the secret the run wrote) stops it with a checkpoint.
func TestSingleProcessRunOnTheBus(t *testing.T) {
	srv, err := bus.StartServer(bus.ServerConfig{Port: -1, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	url := srv.ClientURL()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "toy.yaml")
	os.WriteFile(cfg, []byte(`model: {kind: mlp, input_dim: 2, hidden: [16], activation: softplus}
data: {name: "toy:gmm2d-8"}
objective: {name: fd-ssm, eps: 0.05}
schedule: {kind: constant}
batch: 16
steps: 100000000
jitter: 0
checkpoint: {every: 0, keep: 2}
samples: {n: 0}
`), 0o644)
	out := filepath.Join(dir, "run")
	type result struct {
		stdout string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		o, _, err := execute(t, newRootCmd(), "train", "--config", cfg, "--out", out, "--nats-url", url, "--job", "solo", "--no-progress")
		done <- result{o, err}
	}()
	secret := filepath.Join(out, bus.ControlSecretFile)
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(secret); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the run wrote no control secret")
		}
	}
	w, _, err := execute(t, newRootCmd(), "watch", "--job", "solo", "--nats-url", url, "--once", "--for", "500ms")
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	if !strings.Contains(w, "job solo") || !strings.Contains(w, "world 1") {
		t.Errorf("watch output:\n%s", w)
	}
	if _, _, err := execute(t, newRootCmd(), "ctl", "stop", "--job", "solo", "--nats-url", url, "--secret-file", secret, "--wait", "10s"); err != nil {
		t.Fatalf("ctl stop: %v", err)
	}
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("train: %v", r.err)
		}
		if !strings.Contains(r.stdout, "trained") {
			t.Errorf("train output: %q", r.stdout)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the run did not stop")
	}
	if ents, _ := filepath.Glob(filepath.Join(out, "checkpoints", "step-*")); len(ents) != 1 {
		t.Errorf("checkpoints after stop: %v", ents)
	}
}
