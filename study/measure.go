package study

import (
	"context"
	"fmt"

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
