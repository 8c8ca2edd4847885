package bench

import (
	"math"
	"testing"

	"github.com/fdsm-go/fdsm/models"
)

func TestModelsSmoke(t *testing.T) {
	r := Models(ModelsOptions{Rounds: 1, Iters: 1, Cases: []ModelCase{
		{"mlp tiny", models.Spec{Kind: "mlp", Options: map[string]any{"input_dim": 8, "hidden": []int{4}}}, 3},
		{"resnet tiny", models.Spec{Kind: "resnet_ebm", Options: map[string]any{"n_chan": 2, "image_size": 8}}, 2},
		{"bad", models.Spec{Kind: "nope"}, 1},
	}})
	for _, m := range r.Models[:2] {
		if m.Error != "" || m.StepMs <= 0 || m.ForwardMs <= 0 || m.Params <= 0 {
			t.Errorf("%+v", m)
		}
	}
	if r.Models[2].Error == "" {
		t.Error("unknown kind gave no error")
	}
}

func TestObjectivesAndDerivativeSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every objective once")
	}
	r, err := Objectives(ObjectivesOptions{Rounds: 1, Iters: 1, Batch: 8})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Results) != 6 || r.Speedup["fd-ssm/ssm"] <= 0 || r.PeakRatio <= 0 {
		t.Errorf("%+v", r)
	}
	// MACs per row of the 784-512-512-1 MLP (closed forms and their
	// derivation in objective/work_test.go): forward r, without the first
	// layer s; DSM 5r + s - 3·512, FD-DSM 2·2r + 2s.
	const fr, fs = 784*512 + 512*512 + 512, 512*512 + 512
	if got, want := r.MACRatio["fd-dsm/dsm"], float64(5*fr+fs-3*512)/float64(4*fr+2*fs); math.Abs(got-want) > 1e-12 {
		t.Errorf("fd-dsm/dsm MAC ratio %v, want %v", got, want)
	}
	for _, x := range r.Results {
		if x.MACs <= 0 || x.Elementwise <= 0 || x.GFLOPS <= 0 {
			t.Errorf("%s: no work counted: %+v", x.Method, x)
		}
	}
	if _, err := Objectives(ObjectivesOptions{Model: "vit"}); err == nil {
		t.Error("unknown model accepted")
	}
	d, err := Derivative(DerivativeOptions{MaxOrder: 3, Batch: 2, Rounds: 1, Iters: 1})
	if err != nil {
		t.Fatal(err)
	}
	// The stencil error at ε = 0.3 stays under 1% up to order 5 on this
	// network (measured: below 0.2%).
	for _, o := range d.Orders {
		if o.RelErr > 0.01 || o.ExactMs <= 0 || o.FDMs <= 0 {
			t.Errorf("order %d: %+v", o.Order, o)
		}
	}
}
