package study

import (
	"strings"
	"testing"
)

func TestSweepModesAndEfficiency(t *testing.T) {
	p := testProfile()
	rows, err := p.Sweep(testWorkload(1e6), SweepOptions{GPUs: PowersOfTwo(16), FDDevices: []int{2, 8}, GlobalBatch: 160})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, r := range rows {
		count[r.Mode]++
		if r.GPUs == 1 && r.Efficiency != 1 {
			t.Errorf("%s at 1 GPU: efficiency %g", r.Mode, r.Efficiency)
		}
		if strings.HasPrefix(r.Mode, "strong") {
			near(t, r.Mode+" global batch", r.BatchPerRank*float64(r.Ranks), 160)
		}
		// Throughput and efficiency agree: samples/s = eff · GPUs · one GPU's.
		near(t, r.Mode+" samples/s", r.SamplesPerSec, float64(r.Ranks)*r.BatchPerRank/r.Ms*1e3)
	}
	// 1..16 for dp; 2..16 for fd2; fd8 exceeds the 4-device node.
	if count["weak-dp"] != 5 || count["weak-dp-fd2"] != 4 || count["strong-dp-fd2"] != 4 || count["weak-dp-fd8"] != 0 {
		t.Errorf("rows per mode %v", count)
	}
	// Weak scaling without communication costs would be perfect; with
	// them efficiency falls, and falls at the first node boundary.
	eff := map[int]float64{}
	for _, r := range rows {
		if r.Mode == "weak-dp" {
			eff[r.GPUs] = r.Efficiency
		}
	}
	if !(eff[2] < 1 && eff[4] <= eff[2] && eff[8] < eff[4]) {
		t.Errorf("weak-dp efficiency %v does not fall with GPUs", eff)
	}
}
