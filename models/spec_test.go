package models

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
)

func TestSpecErrorsListWhatIsValid(t *testing.T) {
	be := tensor.DefaultCPU()
	_, err := Build(Spec{Kind: "transformer"}, be, tensor.Float32, 1)
	if err == nil || !strings.Contains(err.Error(), "mlp") || !strings.Contains(err.Error(), "resnet_ebm") {
		t.Errorf("unknown kind: %v", err)
	}
	_, err = Build(Spec{Kind: "mlp", Options: map[string]any{"widht": 3}}, be, tensor.Float32, 1)
	if err == nil || !strings.Contains(err.Error(), `"widht"`) || !strings.Contains(err.Error(), "hidden") {
		t.Errorf("unknown option: %v", err)
	}
	_, err = Build(Spec{Kind: "mlp", Options: map[string]any{"hidden": "wide"}}, be, tensor.Float32, 1)
	if err == nil || !strings.Contains(err.Error(), "bad option value") {
		t.Errorf("bad value: %v", err)
	}
	_, err = Build(Spec{Kind: "mlp", Options: map[string]any{"activation": "gelu"}}, be, tensor.Float32, 1)
	if err == nil || !strings.Contains(err.Error(), "softplus") {
		t.Errorf("bad activation: %v", err)
	}
	if _, err := ParseSpec([]byte("input_dim: 3")); err == nil || !strings.Contains(err.Error(), "kind") {
		t.Errorf("missing kind: %v", err)
	}
}

func TestParseAndLoadSpec(t *testing.T) {
	y, err := ParseSpec([]byte("kind: mlp\ninput_dim: 6\nhidden: [5, 4]\n"))
	if err != nil {
		t.Fatal(err)
	}
	j, err := ParseSpec([]byte(`{"kind": "mlp", "input_dim": 6, "hidden": [5, 4]}`))
	if err != nil {
		t.Fatal(err)
	}
	be := tensor.DefaultCPU()
	a, err := Build(y, be, tensor.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(j, be, tensor.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	sameParams(t, a, b)

	path := filepath.Join(t.TempDir(), "m.yaml")
	if err := os.WriteFile(path, []byte("kind: mlp\ninput_dim: 6\nhidden: [5, 4]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{path, "mlp", `{"kind": "mlp", "input_dim": 6}`} {
		if s, err := LoadSpec(arg); err != nil || s.Kind != "mlp" {
			t.Errorf("LoadSpec(%q) = %v, %v", arg, s, err)
		}
	}
	if _, err := LoadSpec("no-such-model"); err == nil || !strings.Contains(err.Error(), "neither a kind") {
		t.Errorf("LoadSpec of nonsense: %v", err)
	}
}

// TestSpecRoundTrip: a model's Spec rebuilds the same model, and the same
// seed gives bitwise the same initial parameters.
func TestSpecRoundTrip(t *testing.T) {
	for _, s := range []Spec{
		{Kind: "mlp", Options: map[string]any{"input_dim": 7, "hidden": []int{3}}},
		{Kind: "resnet_ebm", Options: map[string]any{"n_chan": 2, "image_size": 8}},
	} {
		a, b, _ := roundTrip(t, s, 9)
		sameParams(t, a, b)
	}
}

// roundTrip builds s, writes its Spec as JSON, parses it back and rebuilds
// with the same seed; it returns both models and the rebuilt spec.
func roundTrip(t *testing.T, s Spec, seed uint64) (a, b Model, s2 Spec) {
	t.Helper()
	be := tensor.DefaultCPU()
	a, err := Build(s, be, tensor.Float64, seed)
	if err != nil {
		t.Fatal(err)
	}
	text, err := a.Spec().MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if s2, err = ParseSpec(text); err != nil {
		t.Fatal(err)
	}
	if b, err = Build(s2, be, tensor.Float64, seed); err != nil {
		t.Fatalf("%s: rebuilding from %s: %v", s.Kind, text, err)
	}
	return a, b, s2
}

func sameParams(t *testing.T, a, b Model) {
	t.Helper()
	pa, pb := a.Params(), b.Params()
	if len(pa) != len(pb) {
		t.Fatalf("%d vs %d parameters", len(pa), len(pb))
	}
	for i := range pa {
		if pa[i].Name != pb[i].Name || !pa[i].Value.Shape().Equal(pb[i].Value.Shape()) {
			t.Fatalf("param %d: %s%v vs %s%v", i, pa[i].Name, pa[i].Value.Shape(), pb[i].Name, pb[i].Value.Shape())
		}
		va, vb := pa[i].Value.ToFloat64s(), pb[i].Value.ToFloat64s()
		for j := range va {
			if va[j] != vb[j] {
				t.Fatalf("param %s differs at %d", pa[i].Name, j)
			}
		}
	}
}
