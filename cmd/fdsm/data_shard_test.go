package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDataShard(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(dir, c), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"1.png", "2.png", "3.png"} {
			writePNG(t, filepath.Join(dir, c, n))
		}
	}
	out := filepath.Join(t.TempDir(), "shards")
	stdout, err := runCLI(t, "data", "shard", dir, out, "--per-shard", "4")
	if err != nil || !strings.Contains(stdout, "wrote 6 images into 2 shards") {
		t.Fatalf("%v: %s", err, stdout)
	}
	for _, f := range []string{"shard-000001.tar", "shards.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	if _, err := runCLI(t, "data", "shard", dir, out); err == nil || !strings.Contains(err.Error(), "already holds shards") {
		t.Errorf("data shard over existing shards: %v", err)
	}
	// data index rewrites the same index.
	before, _ := os.ReadFile(filepath.Join(out, "shards.json"))
	if err := os.Remove(filepath.Join(out, "shards.json")); err != nil {
		t.Fatal(err)
	}
	if stdout, err := runCLI(t, "data", "index", out, "--no-progress"); err != nil || !strings.Contains(stdout, "indexed 2 shards (6 records)") {
		t.Fatalf("data index: %v: %s", err, stdout)
	}
	if after, _ := os.ReadFile(filepath.Join(out, "shards.json")); string(after) != string(before) {
		t.Errorf("data index wrote\n%s\ndata shard wrote\n%s", after, before)
	}
	// The shards train a model: the checkpoint records where the stream
	// stands, and the log names the shards.
	run := filepath.Join(t.TempDir(), "run")
	stdout, err = runCLI(t, "train", "--out", run, "--set", "data.shards="+out, "--set", "data.image_size=8", "--set", "data.channels=1",
		"--set", "model.kind=mlp", "--set", "model.input_dim=64", "--set", "model.hidden=[8]", "--set", "objective.name=fd-ssm",
		"--set", "objective.scaling=paper", "--set", "batch=2", "--set", "steps=5", "--set", "schedule.warmup=0", "--set", "samples.n=0", "--log-format", "json")
	if err != nil || !strings.Contains(stdout, "trained 5 steps") {
		t.Fatalf("train on shards: %v: %s", err, stdout)
	}
	b, err := os.ReadFile(filepath.Join(run, "checkpoints", "step-00000005", "state.json"))
	var state struct {
		Shards *struct{ Epoch int }
	}
	if err == nil {
		err = json.Unmarshal(b, &state)
	}
	if err != nil || state.Shards == nil || state.Shards.Epoch != 1 {
		t.Errorf("state.json (%v) lacks the shard position of epoch 1 (6 images, 3 batches an epoch): %s", err, b)
	}
}
