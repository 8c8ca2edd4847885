package models

import (
	"reflect"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
)

// TestInferMLPSpec: the sizes read off a built MLP's parameter shapes
// rebuild the same architecture; shapes that do not chain, or an output
// wider than one, are refused with the reason.
func TestInferMLPSpec(t *testing.T) {
	m, err := Build(Spec{Kind: "mlp", Options: map[string]any{"input_dim": 5, "hidden": []any{7, 3}}}, tensor.DefaultCPU(), tensor.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	shapes := map[string][]int{}
	for _, p := range m.Params() {
		shapes[p.Name] = p.Value.Shape()
	}
	s, err := InferMLPSpec(shapes)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"input_dim": 5, "hidden": []int{7, 3}}; !reflect.DeepEqual(s.Options, want) || s.Kind != "mlp" {
		t.Fatalf("inferred %+v, want mlp %v", s, want)
	}
	for name, bad := range map[string]map[string][]int{
		"no layers.0.weight":  {"w": {1, 2}},
		"layer 0 has 7":       {"layers.0.weight": {7, 5}, "layers.1.weight": {1, 6}},
		"an mlp energy has 1": {"layers.0.weight": {2, 5}},
		"not [out, in]":       {"layers.0.weight": {2, 5, 1}},
	} {
		if _, err := InferMLPSpec(bad); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: error %v, want %q", bad, err, name)
		}
	}
}
