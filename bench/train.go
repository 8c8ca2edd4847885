package bench

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/device"
	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/trainer"
)

// TrainOptions configure the training benchmark: Warmup untimed steps of
// Config, then Steps measured ones, in a temporary run directory (no
// checkpoints, no samples).
type TrainOptions struct {
	Config trainer.Config
	Name   string // the config's name, for the report
	Steps  int    // measured steps; default 20
	Warmup int    // untimed steps first; default 3
	// Progress, if set, is called after each step.
	Progress func(done, total int)
}

// TrainResult is `fdsm bench train --json`: time per step (the median of
// the measured steps when every step is logged, else the window's mean)
// and, per step, the host synchronisations and the bytes copied host to
// device and back, counted by the device.
type TrainResult struct {
	Config           string  `json:"config"`
	Device           string  `json:"device"`
	Steps            int     `json:"steps"`
	LogEvery         int     `json:"log_every"`
	MsPerStep        float64 `json:"ms_per_step"`
	HostSyncsPerStep float64 `json:"host_syncs_per_step"`
	H2DBytesPerStep  float64 `json:"h2d_bytes_per_step"`
	D2HBytesPerStep  float64 `json:"d2h_bytes_per_step"`
	// BatchBytes is one input batch's size: the only host-to-device copy a
	// step needs.
	BatchBytes int `json:"batch_bytes"`
}

func (r TrainResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "train %s on %s, %d measured steps, logging every %d\n", r.Config, r.Device, r.Steps, r.LogEvery)
	fmt.Fprintf(&b, "  time per step (median)      %10.2f ms\n", r.MsPerStep)
	fmt.Fprintf(&b, "  host synchronisations/step  %10.2f\n", r.HostSyncsPerStep)
	fmt.Fprintf(&b, "  host-to-device bytes/step   %10.0f (one input batch: %d)\n", r.H2DBytesPerStep, r.BatchBytes)
	fmt.Fprintf(&b, "  device-to-host bytes/step   %10.0f\n", r.D2HBytesPerStep)
	return b.String()
}

// Train runs the benchmark.
func Train(o TrainOptions) (TrainResult, error) {
	if o.Steps <= 0 {
		o.Steps = 20
	}
	if o.Warmup <= 0 {
		o.Warmup = 3
	}
	cfg := o.Config
	// The window opens at a logging step (the run reports only those), so
	// the warm-up is rounded up to a multiple of log_every.
	every := max(cfg.LogEvery, 1)
	o.Warmup = (o.Warmup + every - 1) / every * every
	cfg.Steps = o.Warmup + o.Steps
	cfg.Checkpoint = trainer.CheckpointConfig{Every: 0, Keep: 1}
	cfg.Samples.N = 0
	cfg.Validation.Every = 0
	if cfg.Schedule.Warmup >= cfg.Steps {
		cfg.Schedule.Warmup = 0
	}
	be, err := device.Open(cfg.Device)
	if err != nil {
		return TrainResult{}, err
	}
	dir, err := os.MkdirTemp("", "fdsm-bench-train-")
	if err != nil {
		return TrainResult{}, err
	}
	defer os.RemoveAll(dir)
	name, _ := device.Canonical(cfg.Device)
	res := TrainResult{Config: o.Name, Device: name, Steps: o.Steps, LogEvery: every}
	var start tensor.TransferStats
	var t0 time.Time
	var times []float64 // per-step times, when every step is logged
	run := trainer.Run{Config: cfg, Dir: dir, Log: zerolog.Nop(), OnStep: func(m trainer.StepMetrics) {
		switch {
		case m.Step == o.Warmup:
			start, t0 = be.Transfers(), time.Now()
		case m.Step == cfg.Steps:
			d := be.Transfers().Sub(start)
			n := float64(o.Steps)
			res.MsPerStep = float64(time.Since(t0).Nanoseconds()) / 1e6 / n
			res.HostSyncsPerStep = float64(d.HostSyncs) / n
			res.H2DBytesPerStep = float64(d.H2DBytes) / n
			res.D2HBytesPerStep = float64(d.D2HBytes) / n
		}
		if m.Step > o.Warmup {
			times = append(times, m.StepMs)
		}
		if o.Progress != nil {
			o.Progress(m.Step, cfg.Steps)
		}
	}}
	sum, err := run.Train(context.Background())
	if err != nil {
		return TrainResult{}, err
	}
	if t0.IsZero() || res.MsPerStep == 0 {
		return TrainResult{}, fmt.Errorf("bench train: the run ended before step %d", cfg.Steps)
	}
	if len(times) == o.Steps { // every step logged: the median is robust to a slow one
		slices.Sort(times)
		res.MsPerStep = times[len(times)/2]
	}
	res.BatchBytes = cfg.Batch * max(1, cfg.Accumulate) * sum.Model.DType().Size() * tensor.Shape(sum.Model.InputShape()).Numel()
	return res, nil
}
