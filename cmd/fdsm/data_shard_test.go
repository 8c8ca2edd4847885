package main

import (
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
	if _, err := os.Stat(filepath.Join(out, "shard-000001.tar")); err != nil {
		t.Error(err)
	}
}
