package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchAllReduceNCCLMissing: --backend nccl without libnccl.so.2 exits 2
// at once, naming the library and the place it was told to look (the same
// binary serves machines with and without GPUs); an unknown backend is
// refused as well.
func TestBenchAllReduceNCCLMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such", "libnccl.so.2")
	t.Setenv("FDSM_NCCL_LIB", missing)
	_, _, err := execute(t, newRootCmd(), "bench", "allreduce", "--backend", "nccl", "--np", "2")
	if code := exitCode(err); code != exitUsage || !strings.Contains(err.Error(), "libnccl.so.2") || !strings.Contains(err.Error(), missing) {
		t.Fatalf("exit %d: %v", code, err)
	}
	_, _, err = execute(t, newRootCmd(), "bench", "allreduce", "--backend", "gloo")
	if code := exitCode(err); code != exitUsage || !strings.Contains(err.Error(), "ring or nccl") {
		t.Fatalf("exit %d: %v", code, err)
	}
}
