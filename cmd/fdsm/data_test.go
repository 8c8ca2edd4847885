package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/data"
)

func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := newRootCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(append([]string{"--log-level", "warn", "--log-format", "json"}, args...))
	err := cmd.Execute()
	return out.String(), err
}

func TestDataInfo(t *testing.T) {
	out, err := runCLI(t, "data", "info", "toy:rings2d", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if info["count"].(float64) != 10000 || info["name"] == "" {
		t.Errorf("%v", info)
	}
	if _, err := runCLI(t, "data", "info", "/no/such/dir"); err == nil || !strings.Contains(err.Error(), "mnist") {
		t.Errorf("bad path: %v", err)
	}
}

func TestBenchData(t *testing.T) {
	if testing.Short() {
		t.Skip("reads MNIST and decodes JPEGs")
	}
	out, err := runCLI(t, "bench", "data", "--images", "16", "--json")
	if err != nil {
		t.Skip("MNIST module not available:", err)
	}
	var res struct {
		Cases []struct {
			Loader float64 `json:"loader_samples_per_sec"`
			Raw    float64 `json:"raw_samples_per_sec"`
		} `json:"cases"`
		Shards []struct {
			Decoder string  `json:"decoder"`
			Size    int     `json:"size"`
			Decode  float64 `json:"decode_images_per_sec_per_core"`
			Loader  float64 `json:"loader_images_per_sec_per_core"`
		} `json:"shards"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || len(res.Cases) != 3 || res.Cases[1].Loader <= 0 || res.Cases[1].Raw <= 0 {
		t.Fatalf("%v: %s", err, out)
	}
	// Shards: every decoder of this build at 64 and 128 pixels, decode
	// alone and the whole loader.
	if want := 2 * len(data.JPEGDecoders()); len(res.Shards) != want {
		t.Fatalf("%d shard cases, want %d: %s", len(res.Shards), want, out)
	}
	for _, c := range res.Shards {
		if (c.Size != 64 && c.Size != 128) || c.Decode <= 0 || c.Loader <= 0 || !slices.Contains(data.JPEGDecoders(), c.Decoder) {
			t.Errorf("shard case %+v", c)
		}
	}
}

func TestDataInfoSkipCorrupt(t *testing.T) {
	dir := t.TempDir()
	writePNG(t, filepath.Join(dir, "a.png"))
	if err := os.WriteFile(filepath.Join(dir, "b.jpg"), []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "data", "info", dir); err == nil || !strings.Contains(err.Error(), "b.jpg") {
		t.Errorf("corrupt image not reported: %v", err)
	}
	out, err := runCLI(t, "data", "info", dir, "--skip-corrupt", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"count": 1`) {
		t.Errorf("corrupt image not skipped: %s", out)
	}
}

func writePNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
}

// TestTrainMainJobShort runs the default main job end to end in a shortened
// form: a few steps on part of MNIST, a checkpoint, metrics, plots and a
// small sample grid; then resumes it.
func TestTrainMainJobShort(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a few steps on MNIST")
	}
	out := filepath.Join(t.TempDir(), "run")
	args := []string{"train", "--out", out, "--set", "steps=3", "--set", "schedule.warmup=0", "--set", "data.limit=256",
		"--set", "samples.n=4", "--set", "samples.scale=0.002", "--set", "checkpoint.every=2"}
	stdout, err := runCLI(t, args...)
	if err != nil {
		if strings.Contains(err.Error(), "GoMNIST") {
			t.Skip("MNIST module not available:", err)
		}
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "trained 3 steps") {
		t.Errorf("stdout %q", stdout)
	}
	for _, f := range []string{"metrics.jsonl", "loss.png", "time.png", "samples.png", "checkpoints/step-00000003/model.safetensors"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	for i, a := range args {
		if a == "steps=3" {
			args[i] = "steps=5"
		}
	}
	if _, err := runCLI(t, append(args, "--resume")...); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "checkpoints/step-00000005")); err != nil {
		t.Errorf("resumed run wrote no step-5 checkpoint: %v", err)
	}
	if _, err := runCLI(t, "train", "--set", "optimizer.lr=-1", "--out", out); err == nil || !strings.Contains(err.Error(), "optimizer.lr") {
		t.Errorf("bad lr: %v", err)
	}
}

func TestEvalAndSample(t *testing.T) {
	out := filepath.Join(t.TempDir(), "toy")
	if _, err := runCLI(t, "train", "--config", "../../configs/small-ebm-toy-fdssm.yaml", "--set", "steps=20", "--out", out); err != nil {
		t.Fatal(err)
	}
	js, err := runCLI(t, "eval", out, "--what", "sm", "--data", "toy:gmm2d-8", "--batches", "2", "--batch-size", "10", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(js), &r); err != nil || r["samples"].(float64) != 20 {
		t.Fatalf("%v %s", err, js)
	}
	if _, err := runCLI(t, "eval", out, "--what", "nll", "--data", "toy:gmm2d-8"); err == nil || !strings.Contains(err.Error(), "likelihood") {
		t.Errorf("nll of an mlp: %v", err)
	}
	png := filepath.Join(t.TempDir(), "s.png")
	if _, err := runCLI(t, "sample", out, "--n", "4", "--scale", "0.01", "--out", png); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(png); err != nil {
		t.Error(err)
	}
	if _, err := runCLI(t, "eval", "/no/such/run"); err == nil {
		t.Error("missing checkpoint accepted")
	}
}
