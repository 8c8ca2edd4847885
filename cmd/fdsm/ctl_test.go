package main

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/bus"
)

func TestCtlCheckpointAccepted(t *testing.T) {
	dir := t.TempDir()
	secret, secretFile, err := bus.LoadOrCreateControlSecret(dir)
	if err != nil {
		t.Fatal(err)
	}
	url, rank0 := startBusJob(t, secret)
	var obeyed atomic.Int32
	if err := rank0.OnCommand(func(c bus.Command) {
		if c.Kind == bus.CommandCheckpoint {
			obeyed.Add(1)
		}
	}); err != nil {
		t.Fatal(err)
	}

	out, _, err := execute(t, newRootCmd(), "ctl", "checkpoint", "--job", "demo", "--nats-url", url,
		"--token", "watch-token-1", "--secret-file", secretFile, "--wait", "10s")
	if err != nil {
		t.Fatalf("ctl: %v", err)
	}
	if !strings.Contains(out, "job demo accepted the checkpoint command") {
		t.Errorf("output %q", out)
	}
	if obeyed.Load() != 1 {
		t.Errorf("rank 0 obeyed %d checkpoint commands, want 1", obeyed.Load())
	}
}

func TestCtlWrongSecretRefused(t *testing.T) {
	secret, _, err := bus.LoadOrCreateControlSecret(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	url, rank0 := startBusJob(t, secret)
	var obeyed atomic.Int32
	if err := rank0.OnCommand(func(bus.Command) { obeyed.Add(1) }); err != nil {
		t.Fatal(err)
	}
	_, otherFile, err := bus.LoadOrCreateControlSecret(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = execute(t, newRootCmd(), "ctl", "stop", "--job", "demo", "--nats-url", url,
		"--token", "watch-token-1", "--secret-file", otherFile)
	if err == nil || !strings.Contains(err.Error(), "unauthenticated command refused") {
		t.Fatalf("err = %v, want the refusal", err)
	}
	time.Sleep(100 * time.Millisecond)
	if obeyed.Load() != 0 {
		t.Error("rank 0 obeyed a command signed with the wrong secret")
	}
}

func TestCtlNoSecret(t *testing.T) {
	t.Setenv(bus.EnvControlSecret, "")
	_, _, err := execute(t, newRootCmd(), "ctl", "stop", "--job", "demo")
	if err == nil || !strings.Contains(err.Error(), "--secret-file") {
		t.Fatalf("err = %v", err)
	}
}

func TestCtlNoAcknowledgement(t *testing.T) {
	url, _ := startBusJob(t, nil) // nobody handles commands
	t.Setenv(bus.EnvControlSecret, "a-secret-from-the-env-0123")
	start := time.Now()
	_, _, err := execute(t, newRootCmd(), "ctl", "checkpoint", "--job", "demo", "--nats-url", url,
		"--token", "watch-token-1", "--wait", "300ms")
	if err == nil || !strings.Contains(err.Error(), "no rank acknowledged") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s", d)
	}
}
