package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/bus"
	"github.com/fdsm-go/fdsm/cluster"
	"github.com/fdsm-go/fdsm/data"
	"github.com/fdsm-go/fdsm/launch"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// The data-parallel benchmark trains a small EBM with FD-SSM as a real job
// (`fdsm launch` workers running `fdsm train`, gradients averaged over the
// TCP ring) once per world size, with the per-rank batch fixed (weak
// scaling, as DDP users run it). Every rank publishes each step's timing on
// the control bus (bus.StepMetrics); the benchmark runs the bus server
// and reads them there, so it measures exactly what `fdsm watch` shows.
//
// Per world size, after the warm-up steps: the iteration time is the median
// over steps of the slowest rank's step time (the group moves at the pace of
// its slowest member); compute (forward and backward, including the
// all-reduces hidden behind backward), collective wait (after backward, for
// the remaining all-reduces), data wait and the rest (clipping, optimizer,
// bookkeeping) are medians over every rank and step. Throughput is
// np·batch / iteration time, and the scaling efficiency is throughput(np) /
// (np · throughput(1)), with the smallest world size measured standing in
// for 1 when 1 is not measured.

// DDPOptions size the data-parallel benchmark. Zero values take defaults.
type DDPOptions struct {
	NP     []int // world sizes, one process each on this host; default 1, 2, 4
	Batch  int   // samples per rank and step; default 32
	Warmup int   // steps dropped from the figures; default 5, negative: none
	Steps  int   // steps measured after the warm-up; default 40
	// Model is "resnet" (default: a small resnet_ebm on MNIST), "mlp" (the
	// 784-512-512 MLP energy on MNIST) or "toy" (a 2-32-32 MLP energy on a
	// 2-D Gaussian mixture; needs no data set).
	Model string
	// Device is every worker's compute device (package device; "" the CPU).
	Device string
	// Worker is the fdsm command line up to the subcommand: the program and
	// the arguments that come before "train". Default: this executable.
	Worker []string
	// Env holds extra KEY=VALUE entries for every worker.
	Env []string
	// Dir holds each run's config, output and worker logs. Empty: a
	// temporary directory, removed when the benchmark succeeds (kept, and
	// named in the error, when it fails).
	Dir string
	// Timeout bounds each world size's run; default 10 minutes.
	Timeout time.Duration
	// Rounds repeats the whole sequence of world sizes; each world size
	// reports its round with the median iteration time. Default 1.
	Rounds int
	// Progress, if set, is told what is happening (runs take a while). Calls
	// come one at a time, from the caller's goroutine or the bus client's.
	Progress func(msg string)
	// Log receives the launcher's events; the zero Logger discards them.
	Log zerolog.Logger
}

// DDPModels lists the models DDPOptions.Model accepts.
var DDPModels = []string{"resnet", "mlp", "toy"}

func (o DDPOptions) withDefaults() DDPOptions {
	if len(o.NP) == 0 {
		o.NP = []int{1, 2, 4}
	}
	if o.Batch <= 0 {
		o.Batch = 32
	}
	if o.Warmup < 0 {
		o.Warmup = 0
	} else if o.Warmup == 0 {
		o.Warmup = 5
	}
	if o.Steps <= 0 {
		o.Steps = 40
	}
	if o.Model == "" {
		o.Model = "resnet"
	}
	if o.Rounds <= 0 {
		o.Rounds = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	var mu sync.Mutex
	progress := o.Progress
	o.Progress = func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		progress(msg)
	}
	return o
}

// DDPRow is one world size's figures. Times are milliseconds.
type DDPRow struct {
	NP         int `json:"np"`
	GOMAXPROCS int `json:"gomaxprocs"` // each worker's
	// StepMs is the iteration time: the median over steps of the slowest
	// rank's step time.
	StepMs float64 `json:"step_ms"`
	// The parts of a rank's step, medians over ranks and steps (they need
	// not add up to StepMs).
	ComputeMs        float64 `json:"compute_ms"`
	CollectiveWaitMs float64 `json:"collective_wait_ms"`
	DataWaitMs       float64 `json:"data_wait_ms"`
	OtherMs          float64 `json:"other_ms"` // clipping, optimizer, bookkeeping
	// ArrivalSkewMs is the median over steps of the time between the first
	// and the last rank entering the step's first all-reduce: how long the
	// earliest rank waits for the slowest at least.
	ArrivalSkewMs float64 `json:"arrival_skew_ms"`
	// WallStepMs is rank 0's wall-clock time per step over the measured
	// steps (their mean, including everything between steps).
	WallStepMs float64 `json:"wall_step_ms"`
	// OtherLoadCPUs is how many cores, on average over the run, were busy
	// with work other than the benchmark's (other processes, and time the
	// hypervisor gave other machines): well above 0, the figures are
	// disturbed. Linux only; 0 elsewhere.
	OtherLoadCPUs float64 `json:"other_load_cpus"`
	SamplesPerSec float64 `json:"samples_per_sec"` // np·batch / StepMs
	Speedup       float64 `json:"speedup"`         // throughput over the baseline's
	Efficiency    float64 `json:"efficiency"`      // speedup / (np / baseline np)
	Steps         int     `json:"steps"`           // measured steps with every rank's figures
	// RoundStepMs holds every round's iteration time, in order, when there
	// were several; the row is the round with the median one.
	RoundStepMs []float64 `json:"round_step_ms,omitempty"`
}

// DDPResult is the benchmark's outcome (JSON as `fdsm bench ddp --json`
// prints it).
type DDPResult struct {
	Results      []DDPRow    `json:"results"`
	BatchPerRank int         `json:"batch_per_rank"`
	Model        string      `json:"model"`      // DDPOptions.Model
	ModelSpec    models.Spec `json:"model_spec"` // its kind and options
	Data         string      `json:"data"`
	Objective    string      `json:"objective"`
	DType        string      `json:"dtype"`
	Params       int         `json:"params"`
	GradBytes    int         `json:"grad_bytes"` // all-reduced per step
	Warmup       int         `json:"warmup"`
	Steps        int         `json:"steps"`
	Rounds       int         `json:"rounds"`
	BaselineNP   int         `json:"baseline_np"`
	CPUs         int         `json:"cpus"`
}

// String formats the result as a table.
func (r DDPResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "data-parallel benchmark: %s (%d params, %s of gradients per all-reduce), %s on %s, %s\n",
		specString(r.ModelSpec), r.Params, formatBytes(r.GradBytes), r.Objective, r.Data, r.DType)
	fmt.Fprintf(&b, "batch %d per rank (weak scaling), %d CPUs; medians over %d steps after %d warm-up; "+
		"efficiency against np %d\n", r.BatchPerRank, r.CPUs, r.Steps, r.Warmup, r.BaselineNP)
	if r.Rounds > 1 {
		fmt.Fprintf(&b, "%d rounds; each np shows its round with the median iteration time\n", r.Rounds)
	}
	fmt.Fprintf(&b, "%3s %5s %9s %9s %9s %9s %9s %9s %9s %10s %8s %6s %6s\n", "np", "procs", "iter ms",
		"compute", "coll wait", "data wait", "other", "skew", "wall ms", "samples/s", "speedup", "eff", "load")
	for _, row := range r.Results {
		fmt.Fprintf(&b, "%3d %5d %9.2f %9.2f %9.2f %9.3f %9.2f %9.2f %9.2f %10.1f %8.2f %6.2f %6.2f\n", row.NP,
			row.GOMAXPROCS, row.StepMs, row.ComputeMs, row.CollectiveWaitMs, row.DataWaitMs, row.OtherMs,
			row.ArrivalSkewMs, row.WallStepMs, row.SamplesPerSec, row.Speedup, row.Efficiency, row.OtherLoadCPUs)
	}
	b.WriteString("procs: each worker's GOMAXPROCS; compute: forward+backward (all-reduces overlapping backward " +
		"included); coll wait: after backward; skew: first to last rank entering the step's all-reduce; " +
		"load: cores busy with other work during the run\n")
	for _, row := range r.Results {
		if len(row.RoundStepMs) > 1 {
			fmt.Fprintf(&b, "np %d: iteration ms per round:", row.NP)
			for _, v := range row.RoundStepMs {
				fmt.Fprintf(&b, " %.2f", v)
			}
			b.WriteString("\n")
		}
	}
	for _, row := range r.Results {
		if row.NP > r.CPUs {
			fmt.Fprintf(&b, "note: np %d > %d CPUs: the workers time-share the cores\n", row.NP, r.CPUs)
			break
		}
	}
	for _, row := range r.Results {
		if row.OtherLoadCPUs >= ddpDisturbedLoad {
			fmt.Fprintf(&b, "note: other work kept %.2f cores busy during np %d: its figures are disturbed\n",
				row.OtherLoadCPUs, row.NP)
		}
	}
	return b.String()
}

// ddpWorkload is the job every world size runs, apart from the world size.
type ddpWorkload struct {
	model      models.Spec
	data       map[string]any
	objective  map[string]any
	dataName   string
	needsMNIST bool
}

func ddpWorkloadFor(name string) (ddpWorkload, error) {
	fdssm := map[string]any{"name": "fd-ssm", "eps": 0.05}
	switch name {
	case "resnet":
		// configs/small-ebm-mnist-fdssm.yaml's model and objective.
		return ddpWorkload{
			model: models.Spec{Kind: "resnet_ebm", Options: map[string]any{"in_channels": 1, "image_size": 32,
				"n_chan": 4, "activation": "shifted_softplus",
				"blocks": []any{map[string]any{"out": 8, "down": true}, map[string]any{"out": 8, "down": true}}}},
			data:       map[string]any{"name": "mnist", "transforms": []string{"pad:32"}},
			objective:  map[string]any{"name": "fd-ssm", "eps": 0.05, "projection": "sphere"},
			dataName:   "MNIST padded to 32x32",
			needsMNIST: true,
		}, nil
	case "mlp":
		return ddpWorkload{
			model:      models.Spec{Kind: "mlp", Options: map[string]any{"input_dim": 784, "hidden": []int{512, 512}}},
			data:       map[string]any{"name": "mnist"},
			objective:  map[string]any{"name": "fd-ssm", "eps": 0.05, "projection": "sphere"},
			dataName:   "MNIST",
			needsMNIST: true,
		}, nil
	case "toy":
		return ddpWorkload{
			model: models.Spec{Kind: "mlp", Options: map[string]any{"input_dim": 2, "hidden": []int{32, 32},
				"activation": "softplus"}},
			data:      map[string]any{"name": "toy:gmm2d-8"},
			objective: fdssm,
			dataName:  "a 2-D mixture of 8 Gaussians",
		}, nil
	}
	return ddpWorkload{}, fmt.Errorf("unknown model %q (valid: %s)", name, strings.Join(DDPModels, ", "))
}

// config returns the training config of a run on np ranks, as JSON (which
// is YAML too). Checkpoints only at the end, no samples, no validation.
func (w ddpWorkload) config(opts DDPOptions, np int) ([]byte, error) {
	dataCfg := map[string]any{}
	for k, v := range w.data {
		dataCfg[k] = v
	}
	if w.needsMNIST {
		// Enough samples that no rank starts a second epoch mid-measurement,
		// and no more than each process must load.
		dataCfg["limit"] = min(60000, np*opts.Batch*(opts.Warmup+opts.Steps+1))
	}
	spec, err := json.Marshal(w.model)
	if err != nil {
		return nil, err
	}
	cfg := map[string]any{
		"model":      json.RawMessage(spec),
		"dtype":      "float32",
		"device":     opts.Device,
		"data":       dataCfg,
		"objective":  w.objective,
		"optimizer":  map[string]any{"kind": "adam", "lr": 1e-4, "beta1": 0.9, "beta2": 0.95},
		"schedule":   map[string]any{"kind": "constant"},
		"batch":      opts.Batch,
		"steps":      opts.Warmup + opts.Steps,
		"clip_norm":  0.1,
		"jitter":     0.005,
		"checkpoint": map[string]any{"every": 0, "keep": 1},
		"samples":    map[string]any{"n": 0},
	}
	return json.MarshalIndent(cfg, "", "  ")
}

// DDP runs the data-parallel benchmark: one job per world size, one after
// the other. A worker's failure ends it with an error that carries the
// worker's last log lines.
func DDP(ctx context.Context, opts DDPOptions) (DDPResult, error) {
	opts = opts.withDefaults()
	for _, np := range opts.NP {
		if np < 1 {
			return DDPResult{}, fmt.Errorf("world size %d: want at least 1", np)
		}
	}
	work, err := ddpWorkloadFor(opts.Model)
	if err != nil {
		return DDPResult{}, err
	}
	if work.needsMNIST {
		if _, err := data.MNISTDir(); err != nil {
			return DDPResult{}, fmt.Errorf("model %s trains on MNIST, which was not found (%v); "+
				"--model toy needs no data set", opts.Model, err)
		}
	}
	if len(opts.Worker) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return DDPResult{}, fmt.Errorf("find this executable to start the workers: %w", err)
		}
		opts.Worker = []string{exe}
	}
	params, err := countParams(work.model)
	if err != nil {
		return DDPResult{}, err
	}

	dir, cleanup := opts.Dir, func() {}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return DDPResult{}, fmt.Errorf("run directory: %w", err)
		}
	} else {
		if dir, err = os.MkdirTemp("", "fdsm-bench-ddp-"); err != nil {
			return DDPResult{}, fmt.Errorf("scratch directory: %w", err)
		}
		cleanup = func() { _ = os.RemoveAll(dir) }
	}
	srv, err := bus.StartServer(bus.ServerConfig{Port: -1, Log: opts.Log})
	if err != nil {
		return DDPResult{}, fmt.Errorf("control bus for the workers' metrics: %w", err)
	}
	defer srv.Shutdown()

	res := DDPResult{BatchPerRank: opts.Batch, Model: opts.Model, ModelSpec: work.model, Data: work.dataName,
		Objective: "FD-SSM", DType: "float32", Params: params, GradBytes: 4 * params, Warmup: opts.Warmup,
		Steps: opts.Steps, CPUs: runtime.NumCPU()}
	res.Rounds = opts.Rounds
	rows := make([][]DDPRow, len(opts.NP))
	for r := 1; r <= opts.Rounds; r++ {
		for i, np := range opts.NP {
			row, err := runDDPIn(ctx, opts, work, np, r, dir, srv.ClientURL())
			if err != nil {
				if opts.Dir == "" {
					err = fmt.Errorf("%w\n(run files kept in %s)", err, dir)
				}
				return res, err
			}
			opts.Progress(fmt.Sprintf("round %d/%d, np %d: %.2f ms per iteration, %.0f samples/s", r, opts.Rounds,
				np, row.StepMs, row.SamplesPerSec))
			rows[i] = append(rows[i], row)
		}
	}
	for _, rs := range rows {
		res.Results = append(res.Results, medianRound(rs))
	}
	res.BaselineNP = scaleDDP(res.Results)
	cleanup()
	return res, nil
}

// runDDPIn runs round r on np ranks in a fresh directory under dir.
func runDDPIn(ctx context.Context, opts DDPOptions, work ddpWorkload, np, r int, dir, busURL string) (DDPRow, error) {
	sub, err := os.MkdirTemp(dir, fmt.Sprintf("np%d-round%d-", np, r))
	if err != nil {
		return DDPRow{}, fmt.Errorf("np %d: run directory: %w", np, err)
	}
	return runDDP(ctx, opts, work, np, sub, busURL)
}

// medianRound returns the round with the median iteration time (the faster
// of the middle two for an even count), with every round's iteration time.
func medianRound(rounds []DDPRow) DDPRow {
	s := slices.Clone(rounds)
	slices.SortStableFunc(s, func(a, b DDPRow) int { return cmp.Compare(a.StepMs, b.StepMs) })
	row := s[(len(s)-1)/2]
	if len(rounds) > 1 {
		row.RoundStepMs = nil
		for _, r := range rounds {
			row.RoundStepMs = append(row.RoundStepMs, r.StepMs)
		}
	}
	return row
}

// runDDP trains on np ranks in dir and summarises the steps they report on
// the bus at busURL.
func runDDP(ctx context.Context, opts DDPOptions, work ddpWorkload, np int, dir, busURL string) (DDPRow, error) {
	fail := func(err error) (DDPRow, error) { return DDPRow{}, fmt.Errorf("np %d: %w", np, err) }
	cfgPath, err := writeDDPConfig(opts, work, np, dir)
	if err != nil {
		return fail(err)
	}
	job := fmt.Sprintf("bench-ddp-%d-%d-%d", np, os.Getpid(), time.Now().UnixNano()%1e9)
	total := opts.Warmup + opts.Steps

	col := newDDPCollector(np, func(step int) {
		if step%10 == 0 || step == total {
			opts.Progress(fmt.Sprintf("np %d: step %d/%d", np, step, total))
		}
	})
	client, err := subscribeDDPMetrics(ctx, opts.Log, busURL, job, col)
	if err != nil {
		return fail(err)
	}
	defer client.Close()

	plan, err := newDDPPlan(opts, np, job, dir, cfgPath, busURL)
	if err != nil {
		return fail(err)
	}
	gomaxprocs := planGOMAXPROCS(plan)
	opts.Progress(fmt.Sprintf("np %d: starting %d workers (GOMAXPROCS %d each), %d steps of batch %d",
		np, np, gomaxprocs, total, opts.Batch))
	otherLoad, err := runDDPPlan(ctx, plan, opts.Timeout)
	if err != nil {
		return fail(err)
	}
	// Workers flush their bus messages before exiting; the server may still
	// be delivering the last ones.
	col.wait(np*total, 5*time.Second)
	row, err := summariseDDP(np, opts.Batch, opts.Warmup, total, col.all())
	if err != nil {
		return fail(fmt.Errorf("%w (worker logs in %s)", err, plan.Config.LogDir))
	}
	row.GOMAXPROCS, row.OtherLoadCPUs = gomaxprocs, otherLoad
	return row, nil
}

// writeDDPConfig writes the training config of a run on np ranks into dir
// (created if need be) and returns its path.
func writeDDPConfig(opts DDPOptions, work ddpWorkload, np int, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cfgBytes, err := work.config(opts, np)
	if err != nil {
		return "", err
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, cfgBytes, 0o644); err != nil {
		return "", err
	}
	return cfgPath, nil
}

// subscribeDDPMetrics connects to the bus at busURL as an observer of job and
// hands every step's metrics to col. The caller closes the client.
func subscribeDDPMetrics(ctx context.Context, log zerolog.Logger, busURL, job string, col *ddpCollector) (*bus.Client, error) {
	client, err := bus.Connect(ctx, bus.Config{URL: busURL, Job: job, Rank: -1,
		Name: "fdsm-bench-ddp", Log: log})
	if err != nil {
		return nil, err
	}
	if err := client.SubscribeMetrics(col.add); err != nil {
		err = fmt.Errorf("subscribe to the workers' metrics: %w", err)
		client.Close()
		return nil, err
	}
	return client, nil
}

// newDDPPlan plans np local workers of job training with the config at
// cfgPath, their logs and output in dir, reporting on the bus at busURL.
func newDDPPlan(opts DDPOptions, np int, job, dir, cfgPath, busURL string) (*launch.Plan, error) {
	return launch.NewPlan(launch.Config{
		NProcPerNode:   np,
		NodeRank:       launch.UnknownNodeRank,
		Job:            job,
		Host:           "127.0.0.1",
		GossipPortBase: launch.AnyPort,
		LogDir:         filepath.Join(dir, "logs"),
		MaxRestarts:    0,
		Grace:          5 * time.Second,
		Executable:     opts.Worker[0],
		Command: append(append([]string{}, opts.Worker[1:]...), "train", "--config", cfgPath,
			"--out", filepath.Join(dir, "run"), "--log-format", "json"),
		Env: append(append([]string{}, opts.Env...),
			bus.EnvNATSURL+"="+busURL, cluster.EnvGossipProfile+"=fast", cluster.EnvLastCall+"=0s"),
		Stdout: io.Discard,
		Stderr: io.Discard, // the log tail goes into the error instead
		Log:    opts.Log,
	})
}

// planGOMAXPROCS is the GOMAXPROCS the plan gives each worker (0: unset).
func planGOMAXPROCS(plan *launch.Plan) int {
	gomaxprocs := 0
	for _, kv := range plan.Env(0, 0) {
		if v, ok := strings.CutPrefix(kv, "GOMAXPROCS="); ok {
			gomaxprocs, _ = strconv.Atoi(v)
		}
	}
	return gomaxprocs
}

// runDDPPlan runs the workers for at most timeout and returns how many cores
// other work kept busy meanwhile.
func runDDPPlan(ctx context.Context, plan *launch.Plan, timeout time.Duration) (otherLoad float64, err error) {
	runCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	load := startLoadMeter()
	err = plan.Run(runCtx)
	otherLoad = load.others()
	if err != nil {
		if errors.Is(err, launch.ErrStopped) && errors.Is(runCtx.Err(), context.DeadlineExceeded) {
			return 0, fmt.Errorf("still running after %v (worker logs in %s): %w", timeout,
				plan.Config.LogDir, err)
		}
		return 0, withLogTail(err)
	}
	return otherLoad, nil
}

// ddpDisturbedLoad is the other work, in cores, above which the table warns.
const ddpDisturbedLoad = 0.15

// withLogTail adds a failed worker's last log lines to its error.
func withLogTail(err error) error {
	var we *launch.WorkerError
	if !errors.As(err, &we) || len(we.Tail) == 0 {
		return err
	}
	var b strings.Builder
	for _, l := range we.Tail {
		b.WriteString("\n  " + l)
	}
	return fmt.Errorf("%w\nlast %d lines of its log:%s", err, len(we.Tail), b.String())
}

// ddpCollector gathers the metrics the ranks publish. Threading: add runs
// on the bus client's goroutine; the other methods on the benchmark's.
type ddpCollector struct {
	np       int
	onStep   func(step int) // rank 0 finished a step
	mu       sync.Mutex
	metrics  []bus.StepMetrics
	progress chan struct{} // signalled (without blocking) on every add
}

func newDDPCollector(np int, onStep func(int)) *ddpCollector {
	return &ddpCollector{np: np, onStep: onStep, progress: make(chan struct{}, 1)}
}

func (c *ddpCollector) add(m bus.StepMetrics) {
	c.mu.Lock()
	c.metrics = append(c.metrics, m)
	c.mu.Unlock()
	select {
	case c.progress <- struct{}{}:
	default:
	}
	if m.Rank == 0 {
		c.onStep(m.Step)
	}
}

// wait returns once n metrics arrived, or after quiet passes with none.
func (c *ddpCollector) wait(n int, quiet time.Duration) {
	t := time.NewTimer(quiet)
	defer t.Stop()
	for {
		c.mu.Lock()
		have := len(c.metrics)
		c.mu.Unlock()
		if have >= n {
			return
		}
		select {
		case <-c.progress:
			if !t.Stop() {
				<-t.C
			}
			t.Reset(quiet)
		case <-t.C:
			return
		}
	}
}

func (c *ddpCollector) all() []bus.StepMetrics {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]bus.StepMetrics(nil), c.metrics...)
}

// summariseDDP turns the metrics of one run of total steps on np ranks into
// a row (without GOMAXPROCS, load, speedup and efficiency). Steps up to
// warmup are dropped, and so are steps some rank's figures are missing for;
// fewer than half of the measured steps left is an error, as is a job that
// regrouped (a changed world size or generation).
func summariseDDP(np, batch, warmup, total int, ms []bus.StepMetrics) (DDPRow, error) {
	byStep, err := ddpMeasuredSteps(np, warmup, total, ms)
	if err != nil {
		return DDPRow{}, err
	}
	s := ddpSteps{np: np}
	for step := warmup + 1; step <= total; step++ {
		if ranks := byStep[step]; len(ranks) == np {
			s.add(step, ranks)
		}
	}
	want := total - warmup
	if s.steps == 0 || 2*s.steps < want {
		return DDPRow{}, fmt.Errorf("only %d of %d measured steps arrived with every rank's figures "+
			"(%d messages in all): the workers' metrics did not reach the bus", s.steps, want, len(ms))
	}
	return s.row(batch), nil
}

// ddpMeasuredSteps files the metrics of the steps after warmup up to total
// by step and rank, and fails if the job regrouped.
func ddpMeasuredSteps(np, warmup, total int, ms []bus.StepMetrics) (map[int]map[int]bus.StepMetrics, error) {
	byStep := map[int]map[int]bus.StepMetrics{}
	var gen uint64
	genSet := false
	for _, m := range ms {
		if m.World != np {
			return nil, fmt.Errorf("rank %d reported step %d in a world of %d, not %d: the job regrouped "+
				"(a worker was lost)", m.Rank, m.Step, m.World, np)
		}
		if genSet && m.Generation != gen {
			return nil, fmt.Errorf("the job regrouped during the run (generations %d and %d)", gen, m.Generation)
		}
		gen, genSet = m.Generation, true
		if m.Step <= warmup || m.Step > total || m.Rank < 0 || m.Rank >= np {
			continue
		}
		if byStep[m.Step] == nil {
			byStep[m.Step] = map[int]bus.StepMetrics{}
		}
		byStep[m.Step][m.Rank] = m
	}
	return byStep, nil
}

// ddpSteps gathers the figures of the measured steps every rank reported.
type ddpSteps struct {
	np    int
	steps int
	// iter holds each step's slowest rank's time, skew each step's arrival
	// skew; the others every rank's figure of every step.
	iter, compute, coll, dataWait, other, skew []float64
	// Rank 0's clock at the first and the last step that carry it.
	wallFirst, wallLast         time.Time
	wallFirstStep, wallLastStep int
}

// add takes in one step's metrics, one per rank.
func (s *ddpSteps) add(step int, ranks map[int]bus.StepMetrics) {
	s.steps++
	slowest := 0.0
	for _, m := range ranks {
		slowest = max(slowest, m.StepMs)
		s.compute = append(s.compute, m.ComputeMs)
		s.coll = append(s.coll, m.CollectiveWaitMs)
		s.dataWait = append(s.dataWait, m.DataWaitMs)
		s.other = append(s.other, max(0, m.StepMs-m.ComputeMs-m.CollectiveWaitMs-m.DataWaitMs))
	}
	s.iter = append(s.iter, slowest)
	if skewMs, ok := ddpArrivalSkewMs(ranks); ok && s.np > 1 {
		s.skew = append(s.skew, skewMs)
	}
	if r0 := ranks[0]; !r0.Time.IsZero() {
		if s.wallFirstStep == 0 {
			s.wallFirst, s.wallFirstStep = r0.Time, step
		}
		s.wallLast, s.wallLastStep = r0.Time, step
	}
}

// ddpArrivalSkewMs is the time between the first and the last rank entering
// the step's first all-reduce; false when some rank did not report it.
func ddpArrivalSkewMs(ranks map[int]bus.StepMetrics) (float64, bool) {
	var first, last int64
	for _, m := range ranks {
		a := m.ArrivalUnixNano
		if a == 0 {
			return 0, false
		}
		if first == 0 || a < first {
			first = a
		}
		last = max(last, a)
	}
	return float64(last-first) / 1e6, true
}

// row summarises the steps, batch samples per rank each.
func (s *ddpSteps) row(batch int) DDPRow {
	row := DDPRow{NP: s.np, Steps: s.steps, StepMs: median(s.iter), ComputeMs: median(s.compute),
		CollectiveWaitMs: median(s.coll), DataWaitMs: median(s.dataWait), OtherMs: median(s.other)}
	if len(s.skew) > 0 {
		row.ArrivalSkewMs = median(s.skew)
	}
	if s.wallLastStep > s.wallFirstStep {
		row.WallStepMs = float64(s.wallLast.Sub(s.wallFirst).Nanoseconds()) / 1e6 / float64(s.wallLastStep-s.wallFirstStep)
	}
	if row.StepMs > 0 {
		row.SamplesPerSec = float64(s.np*batch) / (row.StepMs / 1e3)
	}
	return row
}

// scaleDDP fills in speedup and efficiency against the row with the
// smallest world size, and returns that size (0 when there are no rows).
func scaleDDP(rows []DDPRow) int {
	if len(rows) == 0 {
		return 0
	}
	base := rows[0]
	for _, r := range rows[1:] {
		if r.NP < base.NP {
			base = r
		}
	}
	for i := range rows {
		if base.SamplesPerSec <= 0 {
			continue
		}
		rows[i].Speedup = rows[i].SamplesPerSec / base.SamplesPerSec
		rows[i].Efficiency = rows[i].Speedup * float64(base.NP) / float64(rows[i].NP)
	}
	return base.NP
}

// countParams builds the model once to count its parameters.
func countParams(spec models.Spec) (int, error) {
	m, err := models.Build(spec, tensor.NewCPU(), tensor.Float32, 1)
	if err != nil {
		return 0, fmt.Errorf("model %s: %w", spec.Kind, err)
	}
	n := 0
	for _, p := range m.Params() {
		n += p.Value.Numel()
	}
	return n, nil
}

// specString writes a model spec compactly, for the report.
func specString(s models.Spec) string {
	b, err := json.Marshal(s)
	if err != nil {
		return s.Kind
	}
	return string(b)
}
