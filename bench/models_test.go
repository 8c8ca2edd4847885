package bench

import (
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
