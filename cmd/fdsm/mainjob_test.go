package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// envMainJob runs TestMainJobDrawsDigits: the whole main job (about ten
// minutes on two cores), too long for every test run.
const envMainJob = "FDSM_TEST_MAIN_JOB"

// TestMainJobDrawsDigits trains the default config exactly as the README's
// command does and judges its samples with the independent classifier of
// eval --what digits: they must pass (>= 60% confidently recognised digits
// covering >= 8 of 10 classes). Run it with FDSM_TEST_MAIN_JOB=1
// (make test-mainjob); the figures of each run are in docs/benchmarks.md.
func TestMainJobDrawsDigits(t *testing.T) {
	if os.Getenv(envMainJob) != "1" {
		t.Skipf("set %s=1 to train the main job (about ten minutes) and judge its samples", envMainJob)
	}
	out := filepath.Join(t.TempDir(), "default")
	if _, stderr, err := execute(t, newRootCmd(), "train", "--out", out, "--no-progress"); err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	for _, seed := range []string{"1", "2", "3"} {
		stdout, stderr, err := execute(t, newRootCmd(), "eval", out, "--what", "digits", "--seed", seed, "--json", "--no-progress")
		if err != nil {
			t.Fatalf("eval digits: %v\n%s", err, stderr)
		}
		var r struct {
			Pass   bool   `json:"pass"`
			Digits string `json:"digits"`
		}
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatalf("%v in %s", err, stdout)
		}
		t.Logf("seed %s: %s", seed, r.Digits)
		if !r.Pass {
			t.Errorf("seed %s: the main job's samples are not varied digits: %s", seed, r.Digits)
		}
	}
}
