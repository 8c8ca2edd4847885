package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fdsm-go/fdsm/data"
	"github.com/fdsm-go/fdsm/npy"
	"github.com/fdsm-go/fdsm/tensor"
)

var (
	tinyRunOnce sync.Once
	tinyRunDir  string
	tinyRunErr  string
)

// tinyImageRun trains the small MNIST EBM for 2 steps once per test binary
// and returns its run directory (trained with the pad:32 transform).
func tinyImageRun(t *testing.T) string {
	t.Helper()
	tinyRunOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fdsm-tiny-run-")
		if err != nil {
			tinyRunErr = err.Error()
			return
		}
		tinyRunDir = filepath.Join(dir, "run")
		_, stderr, err := execute(t, newRootCmd(), "train", "--config", "../../configs/small-ebm-mnist-fddsm.yaml", "--out", tinyRunDir,
			"--set", "steps=2", "--set", "samples.n=0", "--set", "schedule.warmup=0")
		if err != nil {
			tinyRunErr = err.Error() + "\n" + stderr
		}
	})
	if tinyRunErr != "" {
		t.Fatalf("training the tiny run: %s", tinyRunErr)
	}
	return tinyRunDir
}

// TestSampleNPYInPixelScale: --out FILE.npy writes the raw samples as a
// float32 array [N, C, H, W] with every value in [0, 1], and shows progress.
func TestSampleNPYInPixelScale(t *testing.T) {
	run := tinyImageRun(t)
	out := filepath.Join(t.TempDir(), "s.npy")
	stdout, stderr, err := execute(t, newRootCmd(), "sample", run, "--n", "3", "--scale", "0.01", "--out", out)
	if err != nil {
		t.Fatalf("sample: %v\n%s", err, stderr)
	}
	if strings.TrimSpace(stdout) != out {
		t.Errorf("stdout %q, want the file written", stdout)
	}
	a, err := npy.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Shape; len(got) != 4 || got[0] != 3 || got[1] != 1 || got[2] != 32 || got[3] != 32 {
		t.Fatalf("shape %v, want [3 1 32 32]", got)
	}
	for i, v := range a.Data {
		if v < 0 || v > 1 {
			t.Fatalf("value %d is %v, outside pixel scale [0, 1]", i, v)
		}
	}
	if !strings.Contains(stderr, "sample [") || !strings.Contains(stderr, "100%") {
		t.Errorf("no finished progress line on stderr:\n%s", stderr)
	}
}

// TestSampleDefaultOutputInRunDir: without --out the grid goes into the run
// directory, not the current one.
func TestSampleDefaultOutputInRunDir(t *testing.T) {
	run := tinyImageRun(t)
	t.Chdir(t.TempDir())
	stdout, stderr, err := execute(t, newRootCmd(), "sample", run, "--n", "2", "--scale", "0.01", "--seed", "9")
	if err != nil {
		t.Fatalf("sample: %v\n%s", err, stderr)
	}
	want := filepath.Join(run, "samples-seed9.png")
	if strings.TrimSpace(stdout) != want {
		t.Errorf("wrote %q, want %q", stdout, want)
	}
	if _, err := os.Stat(want); err != nil {
		t.Error(err)
	}
	if ents, _ := os.ReadDir("."); len(ents) != 0 {
		t.Errorf("sample wrote into the current directory: %v", ents)
	}
}

// TestSampleBadOutputFailsFirst: a bad --out fails before any sampling and
// names the path as given.
func TestSampleBadOutputFailsFirst(t *testing.T) {
	run := tinyImageRun(t)
	missing := filepath.Join(t.TempDir(), "no", "such", "dir", "x.png")
	for _, tc := range []struct{ out, want string }{
		{missing, missing},
		{filepath.Join(t.TempDir(), "x.jpg"), ".png (a grid) or .npy"},
		{t.TempDir(), "unknown sample file type"},
	} {
		_, stderr, err := execute(t, newRootCmd(), "sample", run, "--n", "2", "--out", tc.out)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.out) {
			t.Errorf("--out %s: err %v, want it to name the path and %q", tc.out, err, tc.want)
		}
		if strings.Contains(stderr, "sampling") {
			t.Errorf("--out %s: sampled before failing:\n%s", tc.out, stderr)
		}
	}
	if _, err := os.Stat(filepath.Dir(missing)); err == nil {
		t.Error("a missing output directory was created")
	}
}

// TestEvalUsesRunTransforms: eval without --transform reads the test split
// with the run's pad:32 (it failed: "[1 28 28] do not fit ... [1 32 32]").
func TestEvalUsesRunTransforms(t *testing.T) {
	run := tinyImageRun(t)
	stdout, stderr, err := execute(t, newRootCmd(), "eval", run, "--batches", "1", "--batch-size", "1", "--chunk-rows", "256")
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, stderr)
	}
	for _, want := range []string{"data:", "mnist/test", "samples:     1", "sm_loss:"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("eval output lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "eval sm [") || !strings.Contains(stderr, "1024/1024") {
		t.Errorf("no progress line over the 1024 Hessian entries:\n%s", stderr)
	}
	// --transform none: the raw 28x28 test images, which the model rejects.
	if _, _, err := execute(t, newRootCmd(), "eval", run, "--batches", "1", "--batch-size", "1", "--transform", "none"); err == nil || !strings.Contains(err.Error(), "do not fit") {
		t.Errorf("--transform none: err %v, want the shape mismatch", err)
	}
}

// TestEvalDigits: eval --what digits passes real test digits (as a .npy of
// 64 padded images, the form fdsm sample writes) and fails noise.
func TestEvalDigits(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the MNIST classifier (about 10 s)")
	}
	run := tinyImageRun(t)
	test, err := data.LoadMNIST("", false)
	if err != nil {
		t.Fatal(err)
	}
	real, noise := make([]float64, 64*32*32), make([]float64, 64*32*32)
	rng := tensor.NewRNG(1)
	for i := range 64 {
		for y := range 28 {
			for x := range 28 {
				real[(i*32+y+2)*32+x+2] = float64(test.Values()[(i*28+y)*28+x])
			}
		}
	}
	for i := range noise {
		noise[i] = rng.Float64()
	}
	for name, vals := range map[string][]float64{"real": real, "noise": noise} {
		f := filepath.Join(t.TempDir(), name+".npy")
		if err := npy.WriteFile(f, []int{64, 1, 32, 32}, vals, npy.Float32); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, err := execute(t, newRootCmd(), "eval", run, "--what", "digits", "--samples-file", f, "--json")
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, stderr)
		}
		var got struct {
			Pass    bool `json:"pass"`
			Samples int  `json:"samples"`
		}
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatalf("%s: %v in %q", name, err, stdout)
		}
		if got.Pass != (name == "real") || got.Samples != 64 {
			t.Errorf("%s digits: %s", name, stdout)
		}
	}
}
