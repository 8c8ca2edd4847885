package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/fdsm-go/fdsm/tensor"
)

// execute runs a fresh command tree in-process with captured output.
func execute(t *testing.T, root *cobra.Command, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errOut.String(), err
}

func TestVersionText(t *testing.T) {
	out, _, err := execute(t, newRootCmd(), "version")
	if err != nil {
		t.Fatalf("version: %v", err)
	}
	if !strings.HasPrefix(out, "fdsm ") {
		t.Errorf("output %q does not start with %q", out, "fdsm ")
	}
	if want := "blas=" + tensor.BLASName(); !strings.Contains(out, want) {
		t.Errorf("output %q does not contain %q", out, want)
	}
}

func TestVersionJSON(t *testing.T) {
	out, _, err := execute(t, newRootCmd(), "version", "--json")
	if err != nil {
		t.Fatalf("version --json: %v", err)
	}
	var got versionInfo
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output %q is not JSON: %v", out, err)
	}
	if got.BLAS != tensor.BLASName() {
		t.Errorf("blas = %q, want %q", got.BLAS, tensor.BLASName())
	}
	if got.Version == "" || got.GoVersion == "" || got.OS == "" || got.Arch == "" {
		t.Errorf("empty field in %+v", got)
	}
}

func TestVersionLdflags(t *testing.T) {
	old := version
	t.Cleanup(func() { version = old })
	version = "v9.8.7-test"
	out, _, err := execute(t, newRootCmd(), "version")
	if err != nil {
		t.Fatalf("version: %v", err)
	}
	if !strings.HasPrefix(out, "fdsm v9.8.7-test (") {
		t.Errorf("output %q does not carry the link-time version", out)
	}
}

func TestBadLogLevel(t *testing.T) {
	_, stderr, err := execute(t, newRootCmd(), "--log-level", "bogus", "version")
	if err == nil {
		t.Fatal("expected an error for --log-level bogus")
	}
	msg := err.Error()
	for _, want := range append([]string{"bogus"}, logLevelNames...) {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if strings.Contains(stderr, "Usage:") {
		t.Errorf("usage dumped for a bad flag value:\n%s", stderr)
	}
	if n := strings.Count(stderr, msg); n != 1 {
		t.Errorf("error printed %d times, want once:\n%s", n, stderr)
	}
}

func TestBadLogFormat(t *testing.T) {
	_, _, err := execute(t, newRootCmd(), "--log-format", "xml", "version")
	if err == nil {
		t.Fatal("expected an error for --log-format xml")
	}
	for _, want := range logFormatNames {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestJSONLogLines(t *testing.T) {
	root := newRootCmd()
	root.AddCommand(&cobra.Command{
		Use: "logtest",
		Run: func(*cobra.Command, []string) {
			l := logger()
			l.Trace().Msg("hidden")
			l.Debug().Int("step", 1).Msg("first")
			l.Info().Str("phase", "train").Msg("second")
			l.Warn().Msg("third")
		},
	})
	_, stderr, err := execute(t, root, "--log-level", "debug", "--log-format", "json", "logtest")
	if err != nil {
		t.Fatalf("logtest: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d log lines, want 3 (trace filtered out):\n%s", len(lines), stderr)
	}
	wantLevels := []string{"debug", "info", "warn"}
	for i, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("line %d %q is not JSON: %v", i, line, err)
		}
		if rec["level"] != wantLevels[i] {
			t.Errorf("line %d level = %v, want %s", i, rec["level"], wantLevels[i])
		}
		if _, ok := rec["time"].(string); !ok {
			t.Errorf("line %d has no timestamp: %s", i, line)
		}
	}
}

func TestAutoLogFormatIsJSONWhenNotATerminal(t *testing.T) {
	root := newRootCmd()
	root.AddCommand(&cobra.Command{
		Use: "logtest",
		Run: func(*cobra.Command, []string) { logger().Info().Msg("hello") },
	})
	_, stderr, err := execute(t, root, "logtest")
	if err != nil {
		t.Fatalf("logtest: %v", err)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(stderr)), &rec); err != nil {
		t.Fatalf("auto format on a buffer should be JSON, got %q: %v", stderr, err)
	}
	if rec["message"] != "hello" {
		t.Errorf("message = %v, want hello", rec["message"])
	}
}

func TestUnknownCommandErrors(t *testing.T) {
	_, _, err := execute(t, newRootCmd(), "no-such-command")
	if err == nil {
		t.Fatal("expected an error for an unknown command")
	}
}

func TestBenchEngineJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the engine benchmark once")
	}
	var out, errb bytes.Buffer
	cmd := newRootCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs([]string{"--log-format", "json", "bench", "engine", "--json", "--rounds", "1", "--iters", "1", "--warmup", "1"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err, errb.String())
	}
	var res map[string]any
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	for _, k := range []string{"step_ms", "gemm_ms", "step_over_gemm", "gflops", "allocs_per_step", "bytes_per_step", "conv_ms", "conv_gflops"} {
		if v, ok := res[k].(float64); !ok || v < 0 || (k != "allocs_per_step" && k != "bytes_per_step" && v == 0) {
			t.Errorf("field %s = %v", k, res[k])
		}
	}
}
