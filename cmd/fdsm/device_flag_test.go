package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadDevice: a device that cannot be opened is a usage error (exit 2)
// naming the name and what is available, for every command that computes,
// and train writes nothing.
func TestBadDevice(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "run")
	toy := []string{"train", "--config", "../../configs/small-ebm-toy-fdssm.yaml", "--set", "steps=2", "--no-progress"}
	for _, args := range [][]string{
		append(toy, "--out", out, "--device", "cpu:9"),
		append(toy, "--out", out, "--device", "cuda:0"),
		append(toy, "--out", out, "--set", "device=tpu"),
	} {
		_, err := runCLI(t, args...)
		if code := exitCode(err); code != exitUsage || !strings.Contains(err.Error(), "available: cpu, cpu:1..7, devsim:0..7") {
			t.Fatalf("%v: exit %d, %v; want exit %d listing the devices", args, code, err, exitUsage)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Fatalf("%v: the refused run left %s behind", args, out)
		}
	}
	// A trained run sampled and evaluated on a bad device.
	if _, err := runCLI(t, append(toy, "--out", out)...); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"sample", out, "--n", "2", "--device", "devsim:9"},
		{"eval", out, "--what", "sm", "--device", "gpu"},
	} {
		_, err := runCLI(t, args...)
		if code := exitCode(err); code != exitUsage || !strings.Contains(err.Error(), args[len(args)-1]) {
			t.Fatalf("%v: exit %d, %v; want exit %d naming the device", args, code, err, exitUsage)
		}
	}
	// And a good one: devsim samples what the CPU does.
	cpuOut, simOut := filepath.Join(dir, "cpu.npy"), filepath.Join(dir, "sim.npy")
	for _, a := range [][]string{{"--out", cpuOut}, {"--out", simOut, "--device", "devsim:0"}} {
		if _, err := runCLI(t, append([]string{"sample", out, "--n", "4", "--no-progress"}, a...)...); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := os.ReadFile(cpuOut)
	b, _ := os.ReadFile(simOut)
	if len(a) == 0 || string(a) != string(b) {
		t.Fatal("samples drawn on devsim:0 differ from the CPU's")
	}
}
