package trainer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MetricsFile is the name of the per-step metrics log inside a run directory.
const MetricsFile = "metrics.jsonl"

// StepMetrics is what the trainer records about one optimisation step. Step
// is the 1-based number of the step just taken. Times are wall-clock
// milliseconds; EngineBytes is the memory the tensor engine holds.
type StepMetrics struct {
	Step          int       `json:"step"`
	Epoch         int       `json:"epoch"`
	Loss          float64   `json:"loss"`
	LR            float64   `json:"lr"`
	GradNorm      float64   `json:"grad_norm"`
	Skipped       bool      `json:"skipped"`
	DataWaitMs    float64   `json:"data_wait_ms"`
	ForwardMs     float64   `json:"forward_ms"`
	BackwardMs    float64   `json:"backward_ms"`
	OptimizerMs   float64   `json:"optimizer_ms"`
	StepMs        float64   `json:"step_ms"`
	SamplesPerSec float64   `json:"samples_per_sec"`
	EngineBytes   int64     `json:"engine_bytes"`
	Time          time.Time `json:"time,omitzero"`
	// Logged: Loss, GradNorm and Skipped were read from the backend at
	// this step (every log_every steps and the last); Run.OnStep sees
	// logged steps only.
	Logged bool `json:"-"`
}

// jfloat carries a float64 through JSON. Skipped steps usually have a NaN or
// infinite loss, which encoding/json refuses, so non-finite values travel as
// the strings "NaN", "+Inf" and "-Inf".
type jfloat float64

func (f jfloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

func (f *jfloat) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"NaN"`, "null":
		*f = jfloat(math.NaN())
		return nil
	case `"+Inf"`, `"Inf"`:
		*f = jfloat(math.Inf(1))
		return nil
	case `"-Inf"`:
		*f = jfloat(math.Inf(-1))
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("not a number: %s", b)
	}
	*f = jfloat(v)
	return nil
}

// stepWire is StepMetrics as written to disk.
type stepWire struct {
	Step          int       `json:"step"`
	Epoch         int       `json:"epoch"`
	Loss          jfloat    `json:"loss"`
	LR            jfloat    `json:"lr"`
	GradNorm      jfloat    `json:"grad_norm"`
	Skipped       bool      `json:"skipped"`
	DataWaitMs    jfloat    `json:"data_wait_ms"`
	ForwardMs     jfloat    `json:"forward_ms"`
	BackwardMs    jfloat    `json:"backward_ms"`
	OptimizerMs   jfloat    `json:"optimizer_ms"`
	StepMs        jfloat    `json:"step_ms"`
	SamplesPerSec jfloat    `json:"samples_per_sec"`
	EngineBytes   int64     `json:"engine_bytes"`
	Time          time.Time `json:"time,omitzero"`
}

// MarshalJSON writes non-finite floats as strings (see ReadMetrics).
func (m StepMetrics) MarshalJSON() ([]byte, error) {
	return json.Marshal(stepWire{m.Step, m.Epoch, jfloat(m.Loss), jfloat(m.LR), jfloat(m.GradNorm),
		m.Skipped, jfloat(m.DataWaitMs), jfloat(m.ForwardMs), jfloat(m.BackwardMs),
		jfloat(m.OptimizerMs), jfloat(m.StepMs), jfloat(m.SamplesPerSec), m.EngineBytes, m.Time})
}

// UnmarshalJSON accepts numbers, null (as NaN) and "NaN"/"+Inf"/"-Inf".
func (m *StepMetrics) UnmarshalJSON(b []byte) error {
	var w stepWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*m = StepMetrics{w.Step, w.Epoch, float64(w.Loss), float64(w.LR), float64(w.GradNorm),
		w.Skipped, float64(w.DataWaitMs), float64(w.ForwardMs), float64(w.BackwardMs),
		float64(w.OptimizerMs), float64(w.StepMs), float64(w.SamplesPerSec), w.EngineBytes, w.Time, true}
	return nil
}

// MetricsWriter appends one JSON line per step to a metrics log. It is safe
// for concurrent use.
type MetricsWriter struct {
	mu   sync.Mutex
	f    *os.File
	path string
}

// NewMetricsWriter opens path for appending, creating it (and its directory)
// if needed, so a resumed run continues the log of the run it resumes. A
// final line without a newline, left by a crash mid-write, is cut off first:
// otherwise the next record would be glued onto it and both would be lost.
func NewMetricsWriter(path string) (*MetricsWriter, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("metrics log: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("metrics log: %w", err)
	}
	if err := metricsDropPartialLine(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("metrics log %s: %w", path, err)
	}
	return &MetricsWriter{f: f, path: path}, nil
}

// metricsDropPartialLine truncates f after its last newline and leaves the offset
// at the end.
func metricsDropPartialLine(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	end := st.Size()
	// Scan backwards in blocks; a metrics line is a few hundred bytes.
	buf := make([]byte, 4096)
	keep := int64(0)
	for pos := end; pos > 0; {
		n := min(int64(len(buf)), pos)
		pos -= n
		if _, err := f.ReadAt(buf[:n], pos); err != nil {
			return err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			keep = pos + int64(i) + 1
			break
		}
	}
	if keep != end {
		if err := f.Truncate(keep); err != nil {
			return err
		}
	}
	_, err = f.Seek(keep, io.SeekStart)
	return err
}

// Path returns the file the writer appends to.
func (w *MetricsWriter) Path() string { return w.path }

// Write appends m as one line. The line goes to the OS in a single write (no
// user-space buffer), so a crash loses at most the step being written.
func (w *MetricsWriter) Write(m StepMetrics) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("metrics log %s: step %d: %w", w.path, m.Step, err)
	}
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return fmt.Errorf("metrics log %s: write after Close", w.path)
	}
	if _, err := w.f.Write(b); err != nil {
		return fmt.Errorf("metrics log %s: %w", w.path, err)
	}
	return nil
}

// Close syncs and closes the file. Closing twice is harmless.
func (w *MetricsWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := errors.Join(w.f.Sync(), w.f.Close())
	w.f = nil
	if err != nil {
		return fmt.Errorf("metrics log %s: %w", w.path, err)
	}
	return nil
}

// ReadMetrics reads a metrics log in file order. Blank lines are skipped. A
// malformed line is an error naming the file and line, except an unfinished
// last line (no newline), which a live run may be in the middle of writing.
func ReadMetrics(path string) ([]StepMetrics, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("metrics log: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var out []StepMetrics
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		finished := err == nil
		if t := bytes.TrimSpace(b); len(t) > 0 {
			var m StepMetrics
			if jerr := json.Unmarshal(t, &m); jerr != nil {
				if !finished {
					break
				}
				return nil, fmt.Errorf("%s:%d: bad metrics line: %w", path, line, jerr)
			}
			out = append(out, m)
		}
		if !finished {
			break
		}
	}
	return out, nil
}

// LinearHistory returns the steps of the history the last run followed. A
// run resumed from a checkpoint older than its last logged step logs those
// steps again; when the step number falls back, the earlier records from that
// step on belong to the abandoned branch and are dropped. The input is not
// modified.
func LinearHistory(ms []StepMetrics) []StepMetrics {
	out := make([]StepMetrics, 0, len(ms))
	for _, m := range ms {
		i := len(out)
		for i > 0 && out[i-1].Step >= m.Step {
			i--
		}
		out = append(out[:i], m)
	}
	return out
}

// Exporter publishes the latest step's metrics for Prometheus. It owns its
// registry, so several trainers (or tests) in one process do not collide on
// the global one.
type Exporter struct {
	reg                                 *prometheus.Registry
	step, epoch, loss, lr, gradNorm     prometheus.Gauge
	stepSec, dataWaitSec, samplesPerSec prometheus.Gauge
	engineBytes                         prometheus.Gauge
	steps, skipped                      prometheus.Counter
}

// NewExporter returns an exporter with every fdsm_* metric registered, plus
// the Go runtime collector (heap, GC, goroutines).
func NewExporter() *Exporter {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	e := &Exporter{
		reg:           prometheus.NewRegistry(),
		step:          g("fdsm_step", "Number of the last optimisation step."),
		epoch:         g("fdsm_epoch", "Epoch of the last step."),
		loss:          g("fdsm_loss", "Loss of the last step."),
		lr:            g("fdsm_lr", "Learning rate of the last step."),
		gradNorm:      g("fdsm_grad_norm", "Global gradient norm of the last step."),
		stepSec:       g("fdsm_step_seconds", "Wall time of the last step."),
		dataWaitSec:   g("fdsm_data_wait_seconds", "Time the last step waited for its batch."),
		samplesPerSec: g("fdsm_samples_per_second", "Training throughput of the last step."),
		engineBytes:   g("fdsm_engine_bytes", "Bytes held by the tensor engine."),
		steps:         c("fdsm_steps_total", "Steps observed by this process."),
		skipped:       c("fdsm_skipped_steps_total", "Steps skipped (non-finite loss or gradient) by this process."),
	}
	e.reg.MustRegister(collectors.NewGoCollector(), e.step, e.epoch, e.loss, e.lr, e.gradNorm,
		e.stepSec, e.dataWaitSec, e.samplesPerSec, e.engineBytes, e.steps, e.skipped)
	return e
}

// Registry returns the exporter's registry, for callers that add metrics.
func (e *Exporter) Registry() *prometheus.Registry { return e.reg }

// Observe records one step. It is safe for concurrent use with scrapes.
func (e *Exporter) Observe(m StepMetrics) {
	e.step.Set(float64(m.Step))
	e.epoch.Set(float64(m.Epoch))
	e.loss.Set(m.Loss)
	e.lr.Set(m.LR)
	e.gradNorm.Set(m.GradNorm)
	e.stepSec.Set(m.StepMs / 1e3)
	e.dataWaitSec.Set(m.DataWaitMs / 1e3)
	e.samplesPerSec.Set(m.SamplesPerSec)
	e.engineBytes.Set(float64(m.EngineBytes))
	e.steps.Inc()
	if m.Skipped {
		e.skipped.Inc()
	}
}

// Serve serves /metrics on addr (":0" or "127.0.0.1:0" pick a free port) in
// the background and returns the address actually bound and a function that
// shuts the server down, waiting for open scrapes until ctx ends.
func (e *Exporter) Serve(addr string) (stop func(context.Context) error, boundAddr string, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("metrics server: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(e.reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	stop = func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		if serr := <-done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		return err
	}
	return stop, ln.Addr().String(), nil
}

// Dist returns m as the telemetry of rank 0 of a world of one, the form
// the control bus carries for every run.
func (m StepMetrics) Dist() DistStepMetrics {
	return DistStepMetrics{Rank: 0, World: 1, Step: m.Step, StepMs: m.StepMs, DataWaitMs: m.DataWaitMs,
		ComputeMs: m.ForwardMs + m.BackwardMs, Loss: m.Loss, SamplesPerSec: m.SamplesPerSec}
}
