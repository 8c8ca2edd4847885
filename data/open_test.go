package data

import (
	"math"
	"strings"
	"testing"
)

func TestOpenAndDescribe(t *testing.T) {
	d, err := Open("toy:gmm2d-8", OpenOptions{ToySize: 500, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	info, err := Describe(d, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Count != 500 || len(info.Mean) != 1 || info.Labels != 0 {
		t.Errorf("%+v", info)
	}
	if _, err := Open("nonesuch", OpenOptions{}); err == nil || !strings.Contains(err.Error(), "mnist") {
		t.Errorf("unknown name: %v", err)
	}
}

// TestDescribeMNIST: per-channel statistics of the real MNIST test set
// (mean 0.1325, std 0.3105 for the test split, known values within 2e-3).
func TestDescribeMNIST(t *testing.T) {
	d, err := Open("mnist-test", OpenOptions{})
	if err != nil {
		t.Skip("MNIST module not available:", err)
	}
	info, err := Describe(d, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Count != 10000 || info.Classes != 10 || info.Min != 0 || info.Max != 1 {
		t.Errorf("%+v", info)
	}
	if math.Abs(info.Mean[0]-0.1325) > 2e-3 || math.Abs(info.Std[0]-0.3105) > 2e-3 {
		t.Errorf("mean %v std %v", info.Mean, info.Std)
	}
}
