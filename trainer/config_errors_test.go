package trainer

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// goWords are signs of Go internals leaking into a config message.
var goWords = regexp.MustCompile(`json:|Go struct|Go value|float64|uint64|\bint\b|int64|\bbool\b|trainer\.|map\[|interface|unmarshal`)

func checkConfigMessage(t *testing.T, what string, err error, want string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %q", what, want)
		return
	}
	if err.Error() != want {
		t.Errorf("%s:\n got %q\nwant %q", what, err.Error(), want)
	}
	if goWords.MatchString(err.Error()) {
		t.Errorf("%s: %q speaks Go", what, err.Error())
	}
}

// TestSetTypeErrors: a --set of the wrong type names the key, the value as
// given and what the key takes.
func TestSetTypeErrors(t *testing.T) {
	for _, c := range []struct{ set, want string }{
		{"optimizer.lr=abc", `--set optimizer.lr: "abc" is not a number`},
		{"optimizer.lr=.inf", `--set optimizer.lr: .inf is not a finite number`},
		{"steps=ten", `--set steps: "ten" is not an integer`},
		{"batch=1.5", `--set batch: 1.5 is not an integer`},
		{"steps=1e30", `--set steps: 1e+30 is not an integer in range`},
		{"seed=-1", `--set seed: -1 is not a non-negative integer`},
		{"objective.sequential=maybe", `--set objective.sequential: "maybe" is not true or false`},
		{"data.transforms=pad:32", `--set data.transforms: "pad:32" is not a list (write [a, b])`},
		{"data.transforms=[pad:32, 5]", `--set data.transforms[1]: 5 is not a string (quote it)`},
		{"optimizer=5", `--set optimizer: 5 is not a section of keys (key: value lines, or {key: value})`},
		{"model=abc", `--set model: "abc" is not a section of keys (key: value lines, or {key: value})`},
		{"steps.x=1", `--set steps: {"x":1} is not an integer`},
		{"optimizer.lrr=1", `--set optimizer.lrr: unknown key (valid keys of optimizer: kind, lr, beta1, beta2, eps, weight_decay, momentum)`},
		{"data.transforms=[1, 2]", "--set data.transforms=[1, 2]: 2 problems:\n  data.transforms[0]: 1 is not a string (quote it)\n  data.transforms[1]: 2 is not a string (quote it)"},
	} {
		cfg := DefaultConfig()
		checkConfigMessage(t, c.set, cfg.Set(c.set), c.want)
	}
	cfg := DefaultConfig()
	err := cfg.Set("stepz=1")
	if err == nil || !strings.HasPrefix(err.Error(), "--set stepz: unknown key (valid keys: model, dtype, device, data,") {
		t.Errorf("unknown top-level key: %v", err)
	}
}

// TestSetValues: what a --set does parse.
func TestSetValues(t *testing.T) {
	cfg := DefaultConfig()
	for _, s := range []string{"steps=1e3", "data.name=123", "objective.sequential=true", "data.transforms=[pad:32, hflip]", "optimizer.lr=2e-4", "seed=7"} {
		if err := cfg.Set(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if cfg.Steps != 1000 || cfg.Data.Name != "123" || !cfg.Objective.Sequential || len(cfg.Data.Transforms) != 2 ||
		cfg.Optimizer.LR != 2e-4 || cfg.Seed != 7 {
		t.Errorf("got %+v", cfg)
	}
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoadConfigTypeErrors: the same messages from a file, all of them at
// once, prefixed by the file.
func TestLoadConfigTypeErrors(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"steps: ten\n", `steps: "ten" is not an integer`},
		{"optimizer: {lr: abc}\n", `optimizer.lr: "abc" is not a number`},
		{"batch: 1.5\n", `batch: 1.5 is not an integer`},
		{"data: {name: redwine, transforms: pad:32}\n", `data.transforms: "pad:32" is not a list (write [a, b])`},
		{"samples: [1, 2]\n", `samples: [1,2] is not a section of keys (key: value lines, or {key: value})`},
		{"validation: {data: 5}\n", `validation.data: 5 is not a string (quote it)`},
		{"ddp: {bucket_mb: big}\n", `ddp.bucket_mb: "big" is not a number`},
		{"checkpoint:\n  every: 10\n  kep: 3\n", `checkpoint.kep: unknown key (valid keys of checkpoint: every, keep)`},
		{"- a\n- b\n", `the file holds ["a","b"], not a section of key: value lines`},
		{"steps: ten\nbatch: 1.5\noptimizer: {lr: abc}\n", "3 problems:\n  batch: 1.5 is not an integer\n  optimizer.lr: \"abc\" is not a number\n  steps: \"ten\" is not an integer"},
	} {
		p := writeConfig(t, c.text)
		_, err := LoadConfig(p)
		checkConfigMessage(t, c.text, err, "config "+p+": "+c.want)
	}
	if _, err := LoadConfig(writeConfig(t, "")); err != nil {
		t.Errorf("empty file: %v", err)
	}
}

// TestLoadConfigYAMLSyntax: a syntax error names the line it is on and
// quotes it. go.yaml.in/yaml/v3 reports parser errors one line early (and
// a tab at the start of its scalar); each case has its error on a known
// line.
func TestLoadConfigYAMLSyntax(t *testing.T) {
	for _, c := range []struct {
		name, text string
		line       int
		quote      string
		problem    string
	}{
		{"unclosed quote", "steps: 10\nbatch: 5\nname: \"abc\nseed: 1\n", 3, `"name: \"abc"`, "found unexpected end of stream"},
		{"unclosed [", "steps: 10\nbatch: 5\nt: [a, b\nseed: 1\n", 3, `"t: [a, b"`, "did not find expected ',' or ']'"},
		{"unclosed { at the end", "steps: 10\nbatch: 5\nt: {a: b\n", 3, `"t: {a: b"`, "did not find expected ',' or '}'"},
		{"unclosed [ on line 1", "t: [a\n", 1, `"t: [a"`, "did not find expected ',' or ']'"},
		{"tab", "steps: 10\nbatch: 5\n\tseed: 1\n", 3, `"\tseed: 1"`, "found a tab character that violates indentation"},
		{"dedent into nothing", "steps: 10\ndata:\n  name: x\n dir: y\n", 4, `" dir: y"`, "did not find expected key"},
		{"over-indent", "steps: 10\ndata:\n  name: x\n   dir: y\nseed: 1\n", 4, `"   dir: y"`, "mapping values are not allowed in this context"},
		{"list item in a section", "steps: 10\nbatch: 5\n- a\n", 3, `"- a"`, "did not find expected key"},
		{"text after a quote", "steps: 10\nbatch: 5\nx: \"a\" b\n", 3, `"x: \"a\" b"`, "did not find expected key"},
		{"stray ]", "steps: 10\nbatch: 5\nx: ]\n", 3, `"x: ]"`, "did not find expected node content"},
		{"stray ] on line 1", "x: ]\n", 1, `"x: ]"`, "did not find expected node content"},
		{"bad character", "steps: 10\nbatch: 5\nx: @a\n", 3, `"x: @a"`, "found character that cannot start any token"},
		{"missing colon", "steps: 10\nbatch: 5\nfoo bar\nseed: 1\n", 3, `"foo bar"`, "could not find expected ':'"},
		{"duplicate key", "steps: 10\nbatch: 5\nsteps: 1\n", 3, `"steps: 1"`, `mapping key "steps" already defined at line 1`},
		{"CRLF", "steps: 10\r\nbatch: 5\r\nt: [a, b\r\n", 3, `"t: [a, b"`, "did not find expected ',' or ']'"},
	} {
		p := writeConfig(t, c.text)
		_, err := LoadConfig(p)
		want := "config " + p + ": YAML error on line " + strconv.Itoa(c.line) + " (" + c.quote + "): " + c.problem
		checkConfigMessage(t, c.name, err, want)
	}
}

// TestValidateDataDir: a dataset fdsm does not ship, without data.dir,
// fails validation with the advice that works for a config (fdsm train has
// no --data-dir).
func TestValidateDataDir(t *testing.T) {
	for _, c := range []struct{ key, set string }{
		{"data.name", "data.name=cifar10"},
		{"validation.data", "validation.data=cifar10-test"},
	} {
		cfg := DefaultConfig()
		cfg.Validation.Every = 1
		if err := cfg.Set(c.set); err != nil {
			t.Fatal(err)
		}
		err := cfg.Validate()
		if err == nil {
			t.Fatalf("%s: valid without data.dir", c.set)
		}
		msg := err.Error()
		for _, want := range []string{c.key + ": cifar10", "not shipped", "data_batch_1.bin", "--set data.dir=DIR"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: %q lacks %q", c.set, msg, want)
			}
		}
		if strings.Contains(msg, "--data-dir") {
			t.Errorf("%s: %q advises --data-dir, which fdsm train lacks", c.set, msg)
		}
		if err := cfg.Set("data.dir=/some/where"); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err != nil && strings.Contains(err.Error(), "not shipped") {
			t.Errorf("%s with data.dir: %v", c.set, err)
		}
	}
}
