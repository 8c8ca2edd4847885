package trainer

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func metricsSample(step int, loss float64) StepMetrics {
	return StepMetrics{Step: step, Epoch: step / 10, Loss: loss, LR: 1e-3, GradNorm: 0.5,
		DataWaitMs: 1.25, ForwardMs: 3, BackwardMs: 6, OptimizerMs: 0.5, StepMs: 11,
		SamplesPerSec: 1234.5, EngineBytes: 1 << 40, Time: time.Unix(1700000000+int64(step), 12345).UTC()}
}

// metricsEqual compares field by field, NaN equal to NaN.
func metricsEqual(a, b StepMetrics) bool {
	same := func(x, y float64) bool { return x == y || (math.IsNaN(x) && math.IsNaN(y)) }
	return a.Step == b.Step && a.Epoch == b.Epoch && same(a.Loss, b.Loss) && same(a.LR, b.LR) &&
		same(a.GradNorm, b.GradNorm) && a.Skipped == b.Skipped && same(a.DataWaitMs, b.DataWaitMs) &&
		same(a.ForwardMs, b.ForwardMs) && same(a.BackwardMs, b.BackwardMs) &&
		same(a.OptimizerMs, b.OptimizerMs) && same(a.StepMs, b.StepMs) &&
		same(a.SamplesPerSec, b.SamplesPerSec) && a.EngineBytes == b.EngineBytes && a.Time.Equal(b.Time)
}

func TestMetricsWriterRoundTripAndAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", MetricsFile)
	want := []StepMetrics{metricsSample(1, 2.5), metricsSample(2, math.NaN()), metricsSample(3, math.Inf(1))}
	want[1].Skipped, want[2].Skipped = true, true
	want[2].GradNorm = math.Inf(-1)
	want[0].Loss = 0.1 + 0.2 // not exactly representable in short decimal: checks exact float round trip

	w, err := NewMetricsWriter(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range want[:2] {
		if err := w.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(want[2]); err == nil {
		t.Error("write after Close: no error")
	}
	// A crash in the middle of a line leaves it unterminated; the reader
	// skips it and reopening cuts it off.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"step":3,"lo`)
	f.Close()
	if got, err := ReadMetrics(path); err != nil || len(got) != 2 {
		t.Fatalf("with a partial last line: %d records, %v", len(got), err)
	}

	w, err = NewMetricsWriter(path) // a resumed run
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(want[2]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadMetrics(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !metricsEqual(got[i], want[i]) {
			t.Errorf("record %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	raw, _ := os.ReadFile(path)
	if n := bytes.Count(raw, []byte("\n")); n != 3 || !bytes.Contains(raw, []byte(`"loss":"NaN"`)) ||
		!bytes.Contains(raw, []byte(`"data_wait_ms":1.25`)) {
		t.Errorf("file (%d lines):\n%s", n, raw)
	}
}

func TestReadMetricsErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadMetrics(filepath.Join(dir, "none.jsonl")); err == nil || !strings.Contains(err.Error(), "none.jsonl") {
		t.Errorf("missing file: %v", err)
	}
	path := filepath.Join(dir, MetricsFile)
	os.WriteFile(path, []byte("{\"step\":1,\"loss\":1}\n\n{\"step\":2,\"loss\":oops}\n{\"step\":3}\n"), 0o644)
	_, err := ReadMetrics(path)
	if err == nil || !strings.Contains(err.Error(), path+":3:") {
		t.Errorf("bad line 3: %v", err)
	}
	os.WriteFile(path, []byte("{\"step\":1,\"loss\":\"many\"}\n"), 0o644)
	if _, err := ReadMetrics(path); err == nil || !strings.Contains(err.Error(), path+":1:") {
		t.Errorf("bad number: %v", err)
	}
}

func TestLinearHistory(t *testing.T) {
	var in []StepMetrics
	for _, s := range []int{1, 2, 3, 4, 5, 3, 4, 5, 6, 2, 3} {
		in = append(in, StepMetrics{Step: s, Loss: float64(len(in))})
	}
	got := LinearHistory(in)
	// Resumed at 3 (from a step-2 checkpoint), then at 2: the kept records
	// are step 1 of the first run and steps 2-3 of the last.
	want := []struct{ step, idx int }{{1, 0}, {2, 9}, {3, 10}}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i, w := range want {
		if got[i].Step != w.step || got[i].Loss != float64(w.idx) {
			t.Errorf("%d: got step %d from record %v, want %d from %d", i, got[i].Step, got[i].Loss, w.step, w.idx)
		}
	}
	if in[5].Step != 3 {
		t.Error("input modified")
	}
}

func TestExporterServe(t *testing.T) {
	e := NewExporter()
	m := metricsSample(7, 0.75)
	e.Observe(m)
	m.Step, m.Skipped, m.Loss = 8, true, math.NaN()
	e.Observe(m)
	stop, addr, err := e.Serve("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	vals := map[string]string{}
	for _, line := range strings.Split(string(body), "\n") {
		if f := strings.Fields(line); len(f) == 2 && !strings.HasPrefix(line, "#") {
			vals[f[0]] = f[1]
		}
	}
	want := map[string]float64{
		"fdsm_step": 8, "fdsm_lr": 1e-3, "fdsm_step_seconds": 0.011, "fdsm_data_wait_seconds": 0.00125,
		"fdsm_skipped_steps_total": 1, "fdsm_steps_total": 2, "fdsm_engine_bytes": 1 << 40,
		"fdsm_loss": math.NaN(),
	}
	for k, w := range want {
		got, err := strconv.ParseFloat(vals[k], 64)
		// Relative 1e-12: the exporter divides milliseconds by 1000 and
		// prints shortest round-trip decimals; nothing else can differ.
		if err != nil || !(math.Abs(got-w) <= 1e-12*math.Abs(w) || math.IsNaN(got) && math.IsNaN(w)) {
			t.Errorf("%s = %q, want %v", k, vals[k], w)
		}
	}
	if t.Failed() {
		t.Logf("body:\n%s", body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := http.Get("http://" + addr + "/metrics"); err == nil {
		t.Error("server still answers after stop")
	}
	if _, _, err := e.Serve("127.0.0.1:99999"); err == nil {
		t.Error("bad address: no error")
	}
}
