package study

import (
	"context"
	"fmt"
	"runtime"
	"slices"

	"github.com/fdsm-go/fdsm/bench"
)

// MeasureOptions size the measured runs.
type MeasureOptions struct {
	NP     []int
	Batch  int // per rank: the config's
	Warmup int
	Steps  int
	Rounds int // each world size reports its round with the median time
	// Worker is the fdsm command line up to "train" that trains the
	// config instead of bench ddp's own workload (`fdsm study ddp-worker
	// --config FILE --`); its workers read bench ddp's config only for the
	// step count, batch and device.
	Worker   []string
	Env      []string // extra KEY=VALUE entries for every worker
	Progress func(string)
	// FD are fdpar group sizes measured at one rank, each on that many
	// devices of kind FDDevice (default "devsim": devices with work
	// queues of their own, so a group's evaluations run at once, one core
	// each; the host's logical CPU devices run them one after another).
	// The group size 1 on the same kind is measured too: it calibrates the
	// prediction of the groups.
	FD       []int
	FDDevice string
}

// FDRow is one measured fdpar group: one rank on FDDevices devices.
type FDRow struct {
	FDDevices int          `json:"fd_devices"`
	Device    string       `json:"device"`
	Row       bench.DDPRow `json:"row"`
}

// Measure runs data-parallel training of the config on this host for each
// world size through bench.DDP, one core per rank (GOMAXPROCS=1, also at
// np 1, so that its compute is one device's).
func Measure(ctx context.Context, o MeasureOptions) ([]bench.DDPRow, error) {
	if len(o.Worker) == 0 {
		return nil, fmt.Errorf("measure: no worker command line")
	}
	res, err := bench.DDP(ctx, bench.DDPOptions{
		NP: o.NP, Batch: o.Batch, Warmup: o.Warmup, Steps: o.Steps, Rounds: o.Rounds,
		Model:    "toy", // replaced by the worker's config; "toy" needs no data set checked
		Worker:   o.Worker,
		Env:      append([]string{"GOMAXPROCS=1"}, o.Env...),
		Progress: o.Progress,
	})
	if err != nil {
		return nil, err
	}
	return res.Results, nil
}

// MeasureFD runs one rank of the config with fdpar groups of each size in
// o.FD (and 1), on devices of kind o.FDDevice, a core per device
// (GOMAXPROCS = the group size). The config's objective must be an FD one.
func MeasureFD(ctx context.Context, o MeasureOptions) ([]FDRow, error) {
	kind := o.FDDevice
	if kind == "" {
		kind = "devsim"
	}
	var out []FDRow
	for _, k := range withOne(o.FD) {
		if k > runtime.NumCPU() {
			if o.Progress != nil {
				o.Progress(fmt.Sprintf("fdpar group of %d not measured: a core per device, and this host has %d", k, runtime.NumCPU()))
			}
			continue
		}
		if o.Progress != nil {
			o.Progress(fmt.Sprintf("fdpar group of %d %s devices", k, kind))
		}
		worker := append(slices.Clone(o.Worker[:len(o.Worker)-1]), "--set", fmt.Sprintf("parallel.fd_devices=%d", k), o.Worker[len(o.Worker)-1])
		res, err := bench.DDP(ctx, bench.DDPOptions{
			NP: []int{1}, Batch: o.Batch, Warmup: o.Warmup, Steps: o.Steps, Rounds: o.Rounds,
			Model: "toy", Device: kind + ":0", Worker: worker,
			Env:      append([]string{fmt.Sprintf("GOMAXPROCS=%d", k)}, o.Env...),
			Progress: o.Progress,
		})
		if err != nil {
			return nil, fmt.Errorf("fdpar group of %d: %w", k, err)
		}
		out = append(out, FDRow{FDDevices: k, Device: kind, Row: res.Results[0]})
	}
	return out, nil
}
