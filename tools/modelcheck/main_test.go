package main

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"slices"
	"testing"

	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// notInForward are options that do not change a built model's output for
// given parameters and buffers, so a forward comparison cannot exercise
// them: initial values of parameters, how buffers are fitted, and the noise
// levels of NCSN v1, whose network output is not divided by σ (only its
// samplers read them).
var notInForward = map[string][]string{
	"dkef":      {"log_lambda_init", "log_sigma_init"},
	"mlp-score": {"pca_samples"},
	"ncsn":      {"sigma_begin", "sigma_end"},
}

// TestCasesCoverEveryKindAndOption keeps the PyTorch cross-check from
// drifting behind the models: every registered kind has a case, and every
// option that shapes the forward pass is set away from its default in at
// least one case (an option added to a kind without a case, like mlp's
// head and base_precision once were, fails here).
func TestCasesCoverEveryKindAndOption(t *testing.T) {
	be := tensor.DefaultCPU()
	for _, kind := range models.Kinds() {
		m, err := models.Build(models.Spec{Kind: kind}, be, tensor.Float64, 1)
		if err != nil {
			t.Fatalf("%s at its defaults: %v", kind, err)
		}
		defaults := normalize(t, m.Spec().Options)
		var mine []map[string]any
		for _, c := range cases {
			if c.spec.Kind == kind {
				mine = append(mine, normalize(t, c.spec.Options))
			}
		}
		if len(mine) == 0 {
			t.Errorf("kind %s has no case in tools/modelcheck (and so no PyTorch check)", kind)
			continue
		}
		for name, def := range defaults {
			if slices.Contains(notInForward[kind], name) {
				continue
			}
			varied := false
			for _, opts := range mine {
				if v, ok := opts[name]; ok && !reflect.DeepEqual(v, def) {
					varied = true
				}
			}
			if !varied {
				t.Errorf("kind %s: no case sets option %s away from its default %v", kind, name, def)
			}
		}
	}
}

// TestPythonListsTheSameCases: check_models.py must check every case
// written here, with a module for each kind.
func TestPythonListsTheSameCases(t *testing.T) {
	src, err := os.ReadFile("../pytorch/check_models.py")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)\nCASES = \{(.*?)\}`).FindSubmatch(src)
	if block == nil {
		t.Fatal("check_models.py has no CASES = {...}")
	}
	pairs := regexp.MustCompile(`"([\w-]+)": "([\w-]+)"`).FindAllSubmatch(block[1], -1)
	py := map[string]string{}
	for _, p := range pairs {
		py[string(p[1])] = string(p[2])
	}
	for _, c := range cases {
		if py[c.name] != c.spec.Kind {
			t.Errorf("case %s (kind %s): check_models.py CASES has %q", c.name, c.spec.Kind, py[c.name])
		}
		if !regexp.MustCompile(`"` + regexp.QuoteMeta(c.spec.Kind) + `": \(`).Match(src) {
			t.Errorf("kind %s has no module in check_models.py BUILD", c.spec.Kind)
		}
	}
	if len(py) != len(cases) {
		t.Errorf("check_models.py lists %d cases, modelcheck writes %d", len(py), len(cases))
	}
}

// normalize round-trips options through JSON so that ints, floats and
// slices compare by value whatever Go types spelled them.
func normalize(t *testing.T, o map[string]any) map[string]any {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
