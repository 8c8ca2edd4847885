package main

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/trainer"
)

// plotWriteLog writes a small metrics log into dir with the trainer's writer.
func plotWriteLog(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, trainer.MetricsFile)
	w, err := trainer.NewMetricsWriter(path)
	if err != nil {
		t.Fatal(err)
	}
	for s := 1; s <= 20; s++ {
		if err := w.Write(trainer.StepMetrics{Step: s, Loss: 10 / float64(s), StepMs: 5, ForwardMs: 2}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPlotCmd(t *testing.T) {
	run := t.TempDir()
	log := plotWriteLog(t, run)
	out, err := runCLI(t, "plot", run)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(run, trainer.LossPlotFile) + "\n" + filepath.Join(run, trainer.TimePlotFile) + "\n"
	if out != want {
		t.Errorf("printed %q, want %q", out, want)
	}
	for _, p := range strings.Fields(out) {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		_, err = png.Decode(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}

	// The log named directly, plots elsewhere.
	dst := filepath.Join(t.TempDir(), "plots")
	out, err = runCLI(t, "plot", log, "--out", dst)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, filepath.Join(dst, trainer.LossPlotFile)) {
		t.Errorf("printed %q", out)
	}
	if _, err := os.Stat(filepath.Join(dst, trainer.TimePlotFile)); err != nil {
		t.Error(err)
	}
}

func TestPlotCmdErrors(t *testing.T) {
	empty := t.TempDir()
	if _, err := runCLI(t, "plot", empty); err == nil || !strings.Contains(err.Error(), trainer.MetricsFile) {
		t.Errorf("run dir without a log: %v", err)
	}
	if _, err := runCLI(t, "plot", filepath.Join(empty, "nope.jsonl")); err == nil || !strings.Contains(err.Error(), "nope.jsonl") {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(empty, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"step\":1,\"loss\":1}\n{\"step\":2,\"loss\":\n{\"step\":3,\"loss\":1}\n"), 0o644)
	if _, err := runCLI(t, "plot", bad); err == nil || !strings.Contains(err.Error(), bad+":2:") {
		t.Errorf("bad line: %v", err)
	}
	blank := filepath.Join(empty, "blank.jsonl")
	os.WriteFile(blank, []byte("\n"), 0o644)
	if _, err := runCLI(t, "plot", blank); err == nil || !strings.Contains(err.Error(), "no steps") {
		t.Errorf("empty log: %v", err)
	}
	if _, err := runCLI(t, "plot"); err == nil {
		t.Error("no argument: no error")
	}
}
