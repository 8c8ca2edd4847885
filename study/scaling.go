// Package study answers "how long will a step take on N GPUs, and with
// which split of data and evaluation parallelism?" for a training config:
// it measures time per iteration on this host for a few world sizes (the
// `fdsm bench ddp` machinery), calibrates a cost model of one iteration to
// this machine, checks the model's predictions against the measurements,
// and models other machines (profiles) up to hundreds of GPUs.
package study

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/fdsm-go/fdsm/bench"
)

// Options configure a scaling study.
type Options struct {
	Workload Workload
	// Measure runs on this host; NP empty: the model alone. World size 1
	// is always measured first: it calibrates Local's compute.
	Measure MeasureOptions
	// AllReduce, if set, calibrates Local's link inside a node.
	AllReduce *bench.AllReduceResult
	// Local is this machine's profile, validated against the measurements
	// (once calibrated from them); Profiles are modelled as well.
	Local    Profile
	Profiles []Profile
	Sweep    SweepOptions
}

// ValidationRow puts a measured time per iteration next to the model's.
type ValidationRow struct {
	NP int `json:"np"`
	// FDDevices, when set, is the fdpar group each rank spread its
	// evaluations over, on devices of kind Device (MeasureOptions.FD).
	FDDevices   int     `json:"fd_devices,omitempty"`
	Device      string  `json:"device,omitempty"`
	MeasuredMs  float64 `json:"measured_ms"`
	PredictedMs float64 `json:"predicted_ms"`
	ErrorPct    float64 `json:"error_pct"` // (predicted - measured) / measured
	// OtherLoadCPUs is the background load measured during the run (cores
	// busy with other work); PredictedLoadedMs the model's time with those
	// cores taken, and LoadedErrorPct its error.
	OtherLoadCPUs     float64 `json:"other_load_cpus"`
	PredictedLoadedMs float64 `json:"predicted_loaded_ms"`
	LoadedErrorPct    float64 `json:"loaded_error_pct"`
	// The measured split, for reading the error.
	ComputeMs        float64 `json:"compute_ms"`
	CollectiveWaitMs float64 `json:"collective_wait_ms"`
	DataWaitMs       float64 `json:"data_wait_ms"`
	OtherMs          float64 `json:"other_ms"`
}

// Result is a study's outcome (`fdsm study scaling --json`).
type Result struct {
	Workload   Workload        `json:"workload"`
	Validation []ValidationRow `json:"validation"`
	Model      []ModelRow      `json:"model"`
	Profiles   []Profile       `json:"profiles"` // as used: Local calibrated first
	Measured   []bench.DDPRow  `json:"measured,omitempty"`
	MeasuredFD []FDRow         `json:"measured_fd,omitempty"`
}

// Run measures (when asked), calibrates, validates and models.
func Run(ctx context.Context, o Options) (Result, error) {
	res := Result{Workload: o.Workload, Validation: []ValidationRow{}}
	local := o.Local
	if o.AllReduce != nil {
		link, err := FitLink(o.AllReduce.Results, local.DevicesPerNode)
		if err != nil {
			return res, err
		}
		local.Intra = link
	}
	if len(o.Measure.NP) > 0 {
		m := o.Measure
		m.NP = withOne(m.NP)
		rows, err := Measure(ctx, m)
		if err != nil {
			return res, err
		}
		res.Measured = rows
		if local, err = CalibrateCompute(local, o.Workload, rows[0], m.Batch); err != nil {
			return res, err
		}
		if res.Validation, err = validate(local, o.Workload, rows, m.Batch); err != nil {
			return res, err
		}
		if len(m.FD) > 0 && o.Workload.FDBlocks > 0 {
			if res.MeasuredFD, err = MeasureFD(ctx, m); err != nil {
				return res, err
			}
			fd, err := validateFD(local, o.Workload, res.MeasuredFD, m.Batch)
			if err != nil {
				return res, err
			}
			res.Validation = append(res.Validation, fd...)
		}
	}
	res.Profiles = append([]Profile{local}, o.Profiles...)
	sw := o.Sweep
	sw.GPUs = slices.Sorted(slices.Values(sw.GPUs))
	for _, p := range res.Profiles {
		rows, err := p.Sweep(o.Workload, sw)
		if err != nil {
			return res, fmt.Errorf("profile %s: %w", p.Name, err)
		}
		res.Model = append(res.Model, rows...)
	}
	return res, nil
}

// withOne returns np sorted, without repeats, starting with 1.
func withOne(np []int) []int {
	out := slices.Sorted(slices.Values(append([]int{1}, np...)))
	return slices.Compact(out)
}

// validate predicts each measured world size, its ranks on one node, on
// an idle node and on one with the run's measured background load.
func validate(p Profile, w Workload, rows []bench.DDPRow, batch int) ([]ValidationRow, error) {
	var out []ValidationRow
	for _, r := range rows {
		v, err := validateRow(p, w, r, Layout{GPUs: r.NP, Nodes: 1, Batch: float64(batch)})
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// validateRow predicts measured row r laid out as l, idle and with the
// run's background load.
func validateRow(p Profile, w Workload, r bench.DDPRow, l Layout) (ValidationRow, error) {
	idle, err := p.Iterate(w, l)
	if err != nil {
		return ValidationRow{}, err
	}
	l.Busy = r.OtherLoadCPUs
	loaded, err := p.Iterate(w, l)
	if err != nil {
		return ValidationRow{}, err
	}
	return ValidationRow{NP: r.NP, MeasuredMs: r.StepMs, PredictedMs: idle.Ms,
		ErrorPct: pctError(idle.Ms, r.StepMs), OtherLoadCPUs: r.OtherLoadCPUs, PredictedLoadedMs: loaded.Ms,
		LoadedErrorPct: pctError(loaded.Ms, r.StepMs), ComputeMs: r.ComputeMs,
		CollectiveWaitMs: r.CollectiveWaitMs, DataWaitMs: r.DataWaitMs, OtherMs: r.OtherMs}, nil
}

// validateFD predicts the measured fdpar groups with p's compute
// calibrated on their group of one (the same device kind), the group's
// devices on one node. p is calibrated on the data parallel np-1 run
// already: its update cost is kept, and the group of one's step less its
// data wait and that update is its compute. (On devices that queue work,
// devsim and GPUs, bench ddp's split of a step says where the host
// waited, not where the device worked: the host waits at the first read
// after the objective, so the split cannot calibrate; the group of one
// has no all-reduce, so its step is data, compute and update.)
func validateFD(p Profile, w Workload, rows []FDRow, batch int) ([]ValidationRow, error) {
	if len(rows) == 0 || rows[0].FDDevices != 1 {
		return nil, fmt.Errorf("validate fdpar: want the group of one first")
	}
	cal := rows[0].Row
	cal.OtherMs = p.UpdateNsPerParam*float64(w.Params)/1e6 + p.StepOverheadMs
	cal.ComputeMs, cal.CollectiveWaitMs = cal.StepMs-cal.DataWaitMs-cal.OtherMs, 0
	p, err := CalibrateCompute(p, w, cal, batch)
	if err != nil {
		return nil, err
	}
	var out []ValidationRow
	for _, r := range rows {
		v, err := validateRow(p, w, r.Row, Layout{GPUs: r.FDDevices, FDDevices: r.FDDevices, Nodes: 1, Batch: float64(batch)})
		if err != nil {
			return nil, err
		}
		v.FDDevices, v.Device = r.FDDevices, r.Device
		out = append(out, v)
	}
	return out, nil
}

func pctError(predicted, measured float64) float64 { return 100 * (predicted - measured) / measured }

// String formats the result as tables.
func (r Result) String() string {
	var b strings.Builder
	w := r.Workload
	fmt.Fprintf(&b, "scaling study: %s, %d params in %d bucket(s) of %s bytes, %.3g FLOPs per sample, batch %d per rank",
		w.Name, w.Params, len(w.Buckets), joinInts(w.Buckets), w.FLOPsPerSample, w.Batch)
	if w.FDBlocks > 0 {
		fmt.Fprintf(&b, ", %d FD evaluations", w.FDBlocks)
	}
	b.WriteString("\n")
	if len(r.Validation) > 0 {
		fmt.Fprintf(&b, "\nvalidation on this host (profile %s, calibrated at np 1):\n", r.Profiles[0].Name)
		fmt.Fprintf(&b, "%-14s %12s %13s %8s %6s %10s %8s %10s %10s %10s %10s\n", "run", "measured ms", "predicted ms",
			"error", "load", "loaded ms", "error", "compute", "coll wait", "data wait", "other")
		for _, v := range r.Validation {
			fmt.Fprintf(&b, "%-14s %12.2f %13.2f %7.1f%% %6.2f %10.2f %7.1f%% %10.2f %10.2f %10.3f %10.2f\n", v.label(),
				v.MeasuredMs, v.PredictedMs, v.ErrorPct, v.OtherLoadCPUs, v.PredictedLoadedMs, v.LoadedErrorPct,
				v.ComputeMs, v.CollectiveWaitMs, v.DataWaitMs, v.OtherMs)
		}
		b.WriteString("predicted: on an idle host; load: cores other work kept busy during the run; loaded: " +
			"predicted with those cores taken; np N fd K dev: one rank's fdpar group of K devices of kind dev, " +
			"calibrated on its group of 1\n")
	}
	for _, p := range r.Profiles {
		fmt.Fprintf(&b, "\nmodel, profile %s (%s):\n", p.Name, p.Description)
		fmt.Fprintf(&b, "%-14s %5s %5s %6s %9s %10s %9s %9s %9s %9s %12s %6s\n", "mode", "gpus", "ranks", "nodes",
			"batch", "ms", "compute", "comm", "exposed", "group", "samples/s", "eff")
		for _, m := range r.Model {
			if m.Profile != p.Name {
				continue
			}
			fmt.Fprintf(&b, "%-14s %5d %5d %6d %9.4g %10.3f %9.3f %9.3f %9.3f %9.3f %12.4g %6.3f\n", m.Mode, m.GPUs,
				m.Ranks, m.Nodes, m.BatchPerRank, m.Ms, m.ComputeMs, m.CommMs, m.ExposedMs, m.GroupMs,
				m.SamplesPerSec, m.Efficiency)
		}
	}
	b.WriteString("\nweak: batch per rank fixed; strong: global batch fixed; dp-fdK: ranks of K-device fdpar groups; " +
		"comm: the all-reduces; exposed: the part not hidden behind backward; group: fdpar's gradient gather and copy-back; " +
		"eff: throughput over GPUs x one GPU's\n")
	return b.String()
}

// label names the run: "np 2", or "np 1 fd 2 devsim" for an fdpar group.
func (v ValidationRow) label() string {
	if v.FDDevices == 0 {
		return fmt.Sprintf("np %d", v.NP)
	}
	return fmt.Sprintf("np %d fd %d %s", v.NP, v.FDDevices, v.Device)
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, "+")
}
