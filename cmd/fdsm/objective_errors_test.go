package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/objective"
)

// checkErr fails unless err mentions every string of want.
func checkErr(t *testing.T, name string, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error", name)
		return
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %q does not mention %q", name, err, w)
		}
	}
}

func TestObjectiveErrors(t *testing.T) {
	f := newObjFixture(t)
	garbage := filepath.Join(f.dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not a file format at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(f.dir, "missing.npy")
	v4 := writeNpy(t, f.dir, "v4.npy", []int{4, 3}, make([]float64, 12))
	lv := writeNpy(t, f.dir, "levels.npy", []int{4}, make([]float64, 4))
	base := []string{"objective", "--params", f.params, "--x", f.x}
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"unknown method", append(base, "--method", "bogus"), append([]string{"bogus"}, objective.Names()...)},
		{"no --x", []string{"objective", "--params", f.params, "--method", "sm"}, []string{"--x is required"}},
		{"no --params", []string{"objective", "--x", f.x, "--method", "sm"}, []string{"--params is required"}},
		{"no --method", base, []string{"--method is required"}},
		{"missing x", []string{"objective", "--params", f.params, "--x", missing, "--method", "sm"}, []string{"--x", missing}},
		{"corrupt x", []string{"objective", "--params", f.params, "--x", garbage, "--method", "sm"}, []string{"--x", garbage, "bad magic"}},
		{"corrupt params", []string{"objective", "--model", "mlp", "--params", garbage, "--x", f.x, "--method", "sm"}, []string{"--params", garbage}},
		{"corrupt params, spec", []string{"objective", "--model", fixtureSpec, "--params", garbage, "--x", f.x, "--method", "sm"}, []string{"--params", garbage}},
		{"missing v", append(base, "--method", "ssm", "--v", missing), []string{"--v", missing}},
		{"v shape", append(base, "--method", "ssm", "--v", v4), []string{"--v", v4, "[4 3]", f.x, "[5 3]", "must match"}},
		{"noise shape", append(base, "--method", "dsm", "--noise", v4), []string{"--noise", v4, "[4 3]", "[5 3]"}},
		{"levels length", append(base, "--method", "dsm", "--levels", lv), []string{"--levels", lv, "[4]", "[5]"}},
		{"wrong model for method", append(base, "--method", "mle"), []string{"evaluating objective mle", "nice"}},
		{"bad dtype", append(base, "--method", "sm", "--dtype", "float16"), []string{"--dtype"}},
		{"bad scaling", append(base, "--method", "sm", "--scaling", "odd"), []string{"odd", "reference-ebm"}},
		{"bad eps", append(base, "--method", "fd-ssm", "--eps", "-1"), []string{"eps"}},
	}
	for _, c := range cases {
		stdout, _, err := execute(t, newRootCmd(), c.args...)
		checkErr(t, c.name, err, c.want...)
		if stdout != "" {
			t.Errorf("%s: printed %q despite the error", c.name, stdout)
		}
	}
}
