package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestTrainUnshippedDataAdvice: fdsm train has no --data-dir, so a dataset
// that needs a directory is rejected before training with the advice a
// config takes.
func TestTrainUnshippedDataAdvice(t *testing.T) {
	_, err := runCLI(t, "train", "--set", "data.name=cifar10", "--out", t.TempDir(), "--no-progress")
	if err == nil {
		t.Fatal("train on cifar10 without data.dir succeeded")
	}
	msg := err.Error()
	for _, want := range []string{"cifar10", "data_batch_1.bin", "data.dir"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "--data-dir") {
		t.Errorf("%q advises --data-dir, a flag train does not have", msg)
	}
}

// TestTrainSetTypeError: a --set of the wrong type is a message about the
// key, not about Go.
func TestTrainSetTypeError(t *testing.T) {
	_, err := runCLI(t, "train", "--set", "optimizer.lr=abc", "--out", t.TempDir(), "--no-progress")
	if err == nil || err.Error() != `--set optimizer.lr: "abc" is not a number` {
		t.Errorf("got %v", err)
	}
}

// TestDataInfoUCIAnyDir: the bundled UCI tables open with no --data-dir
// from a directory other than the repository.
func TestDataInfoUCIAnyDir(t *testing.T) {
	t.Chdir(t.TempDir())
	out, err := runCLI(t, "data", "info", "redwine", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Count int   `json:"count"`
		Shape []int `json:"shape"`
	}
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if info.Count != 1296 || len(info.Shape) != 1 || info.Shape[0] != 11 {
		t.Errorf("redwine: %+v", info)
	}
}

// TestDataInfoAdvisesDataDir: data info names its own flag for a dataset
// that needs a directory.
func TestDataInfoAdvisesDataDir(t *testing.T) {
	_, _, err := execute(t, newRootCmd(), "data", "info", "cifar10")
	if err == nil || !strings.Contains(err.Error(), "--data-dir DIR") || strings.Contains(err.Error(), "data.dir") {
		t.Fatalf("err %v, want advice naming --data-dir", err)
	}
}
