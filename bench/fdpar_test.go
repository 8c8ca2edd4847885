package bench

import (
	"math"
	"testing"

	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/objective"
	"github.com/fdsm-go/fdsm/tensor"
)

// TestFDParBenchmarkRuns: the benchmark times both steps, sees every
// device, and finds the group's gradients as close to the one-device
// batched step's as one device evaluating block by block is (both regroup
// the rows; the FD stencil's 1/ε² amplifies the rounding of either).
func TestFDParBenchmarkRuns(t *testing.T) {
	res, err := FDPar(FDParOptions{Spec: models.Spec{Kind: "mlp", Options: map[string]any{"input_dim": 6, "hidden": []any{16, 16}}},
		DType: tensor.Float32, Objective: "fd-ssm", Options: objective.Options{Eps: 0.1},
		Devices: []tensor.Backend{tensor.NewCPU(), tensor.NewLogicalCPU("cpu:5")}, Batch: 8, Rounds: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.OneDeviceMs <= 0 || res.GroupMs <= 0 || len(res.PeakBytes) != 2 || res.PeakBytes[1] <= 0 {
		t.Fatalf("%+v", res)
	}
	if bound := math.Max(1e-12, 2*res.SequentialGradRelDiff); res.MaxGradRelDiff > bound {
		t.Fatalf("the group's gradients differ by %g, more than %g", res.MaxGradRelDiff, bound)
	}
}
