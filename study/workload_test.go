package study

import (
	"slices"
	"testing"
)

func TestWorkloadOfAConfig(t *testing.T) {
	// An MLP energy 2-64-64-1 trained with FD-SSM, batch 256.
	w, err := WorkloadOf("../configs/small-ebm-toy-fdssm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const params = 2*64 + 64 + 64*64 + 64 + 64 + 1
	if w.Name != "small-ebm-toy-fdssm" || w.Params != params || w.FDBlocks != 3 || w.Batch != 256 {
		t.Errorf("workload %+v", w)
	}
	if !slices.Equal(w.Buckets, []int{4 * params}) { // under the first bucket's 1 MiB
		t.Errorf("buckets %v, want one of %d bytes", w.Buckets, 4*params)
	}
	// Forward: 3 evaluations of 2·64 + 64·64 + 64 multiply-accumulates;
	// backward costs one to two forwards more (weights' and inputs'
	// gradients), and the FD-SSM loss differentiates through the inputs.
	forward := 2.0 * 3 * (2*64 + 64*64 + 64)
	if w.FLOPsPerSample < 2*forward || w.FLOPsPerSample > 4*forward {
		t.Errorf("%.0f FLOPs per sample, want 2 to 4 forwards of %.0f", w.FLOPsPerSample, forward)
	}
}
