package trainer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/data"
	"github.com/fdsm-go/fdsm/device"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/objective"
	"github.com/fdsm-go/fdsm/tensor"
)

// Summary describes a finished (or stopped) run.
type Summary struct {
	Steps      int
	Skipped    int
	LastLoss   float64
	Checkpoint string // the last checkpoint written
	Elapsed    time.Duration
	Model      models.Model
	Stopped    bool // ended early: validation patience exhausted, or an operator's stop
	Rank       int  // this process's rank in the last group (0 when not data parallel)
	// AlreadyComplete: a resume found the run finished (its newest
	// checkpoint at or past Config.Steps) and touched nothing; Steps and
	// Checkpoint describe that checkpoint, Model is nil.
	AlreadyComplete bool
}

// Run is one training run. OnStep, if set, receives every step's metrics
// (the CLI writes them to metrics.jsonl, the console and Prometheus); in a
// data-parallel run only rank 0 calls it (see Distributed.OnStep).
type Run struct {
	Config Config
	Dir    string
	Resume bool
	Log    zerolog.Logger
	OnStep func(StepMetrics)
	// Dist, if set, makes this run one rank of a data-parallel group.
	Dist *Distributed
	// PollCommand, if set, is asked after every step for an operator's
	// command ("checkpoint", "stop" or ""). In a data-parallel run only
	// rank 0's answer counts and every rank obeys it at the same step.
	PollCommand func() string
	// OnCheckpoint, if set, is called after each checkpoint is written.
	OnCheckpoint func(step int, path string)
	// Overwrite lets a fresh run (Resume false) start in a directory that
	// holds a run, after moving that run aside to Dir.old-<time>; without
	// it such a run fails with ErrRunExists.
	Overwrite bool
	// ResumeFinite lets a resume skip checkpoints holding NaN or Inf (each
	// reported) for the newest finite one; without it such a checkpoint
	// fails the resume.
	ResumeFinite bool
}

// command is an operator's request carried through a step.
type command int

const (
	cmdNone command = iota
	cmdCheckpoint
	cmdStop
	cmdRegroup // data parallel: checkpoint, then end this group so a larger one can form
)

// ErrRegroup ends a data-parallel Train after a checkpoint when rank 0
// asked to regroup (members are waiting to join and the world is below its
// maximum); Elastic forms the next group and resumes. Nothing is lost.
var ErrRegroup = errors.New("regrouping to admit waiting members")

func parseCommand(s string) command {
	switch s {
	case "checkpoint":
		return cmdCheckpoint
	case "stop":
		return cmdStop
	case "regroup":
		return cmdRegroup
	}
	return cmdNone
}

// runState is what the loop mutates.
type runState struct {
	step, epoch, skipped, consecutive int
}

// Train runs the loop. Every configuration error is reported before any
// training starts. A cancelled ctx writes a checkpoint and returns ctx's
// error.
func (r Run) Train(ctx context.Context) (Summary, error) {
	cfg := r.Config
	start := time.Now()
	if err := cfg.Validate(); err != nil {
		return Summary{}, err
	}
	d := r.Dist
	lead := d.rank() == 0
	if r.Resume {
		// Resuming a finished run would rewrite its last checkpoint.
		if step, path, ok := CompletedRun(r.Dir, cfg.Steps); ok {
			return Summary{Steps: step, Checkpoint: path, AlreadyComplete: true, Rank: d.rank()}, nil
		}
	}
	dt, _ := tensor.ParseDType(cfg.DType)
	be, err := device.Open(cfg.Device)
	if err != nil {
		return Summary{}, err
	}
	m, err := models.Build(cfg.ModelSpec(), be, dt, cfg.Seed)
	if err != nil {
		return Summary{}, err
	}
	if _, ok := m.(*models.DKEF); ok && d.world() > 1 {
		return Summary{}, fmt.Errorf("data-parallel training of dkef is not supported: each step fits the kernel weights to the local batch, so replicas would differ; train it with one process")
	}
	loader, ds, err := r.newLoader(m, be, dt)
	if err != nil {
		return Summary{}, err
	}
	if dk, ok := m.(*models.DKEF); ok && cfg.InitFrom == "" {
		// Resuming overwrites these with the checkpoint's.
		if err := initInducingPoints(dk, ds); err != nil {
			return Summary{}, err
		}
	}
	if cfg.InitFrom != "" {
		path, err := ModelFile(cfg.InitFrom)
		if err != nil {
			return Summary{}, fmt.Errorf("init_from: %w", err)
		}
		if err := models.LoadParams(path, m); err != nil {
			return Summary{}, fmt.Errorf("init_from: %w", err)
		}
	}
	trainable, err := selectParams(m, cfg.TrainOnly)
	if err != nil {
		return Summary{}, err
	}
	val, err := newValidator(cfg, m)
	if err != nil {
		return Summary{}, err
	}
	defer loader.Close()
	obj, err := objective.New(cfg.Objective.Name, cfg.objectiveOptions())
	if err != nil {
		return Summary{}, err
	}
	opt, err := NewOptimizer(cfg.Optimizer.Kind, OptimizerOptions{Beta1: cfg.Optimizer.Beta1, Beta2: cfg.Optimizer.Beta2,
		Eps: cfg.Optimizer.Eps, WeightDecay: cfg.Optimizer.WeightDecay, Momentum: cfg.Optimizer.Momentum})
	if err != nil {
		return Summary{}, err
	}
	sched, err := NewSchedule(cfg.Schedule.Kind, cfg.Optimizer.LR, cfg.Steps, cfg.Schedule.Warmup, cfg.Schedule.MinLR)
	if err != nil {
		return Summary{}, err
	}
	// Everything above only reads; the run directory is claimed (and
	// written) from here on.
	if lead {
		if err := r.claimDir(); err != nil {
			return Summary{}, err
		}
	}
	rng := tensor.NewRNG(cfg.Seed ^ 0x5eed)
	var s runState
	st := trainState{Config: cfg}
	resumed := ""
	if r.Resume && lead {
		path, got, err := restoreLatest(r.Dir, m, opt, r.ResumeFinite, func(p string, err error) {
			r.Log.Warn().Str("checkpoint", p).Err(err).Msg("unreadable checkpoint skipped; trying the previous one")
		})
		if err != nil {
			return Summary{}, err
		}
		if path == "" {
			r.Log.Info().Str("dir", r.Dir).Msg("no checkpoint to resume from; starting fresh")
		} else {
			st, resumed = got, path
			// Data-parallel checkpoints save no generator (ranks derive theirs
			// from the step); a single process then keeps its fresh one.
			if st.RNG != "" && d == nil {
				if err := decodeRNG(st.RNG, rng); err != nil {
					return Summary{}, fmt.Errorf("%s: rng state: %w", path, err)
				}
			}
		}
	}
	if d != nil {
		// Every rank starts from rank 0's parameters, optimizer and state.
		if st, err = syncState(ctx, d, m, opt, st); err != nil {
			return Summary{}, err
		}
	}
	sst := data.SamplerState{Epoch: st.Epoch, Position: st.Position, Offset: st.Offset}
	if st.Step > 0 {
		s = runState{step: st.Step, epoch: st.Epoch, skipped: st.Skipped, consecutive: st.Consecutive}
		val.restore(st.ValBest, st.ValBad)
		if old := max(st.World, 1); old != d.world() {
			smp := loader.Sampler()
			sst = smp.Reshard(sst, old)
			s.epoch = sst.Epoch
			r.Log.Info().Int("from_world", old).Int("to_world", d.world()).Int("epoch", sst.Epoch).Int("offset", sst.Offset).Msg("world size changed: data resharded")
		}
		r.Log.Info().Str("checkpoint", resumed).Int("step", s.step).Msg("resumed")
	}
	if err := loader.StartAt(sst); err != nil {
		return Summary{}, err
	}
	var red *reducer
	if d != nil {
		if red, err = newReducer(d.Comm, trainable, d.FirstBucketBytes, d.BucketBytes); err != nil {
			return Summary{}, err
		}
	}
	sum := Summary{Model: m, Rank: d.rank()}
	var dev *deviceSteps // one process: the step's statistics live on the backend
	if red == nil {
		dev = newDeviceSteps(be, dt, cfg, s.skipped, s.consecutive)
	}
	// snapshotAt is everything state.json records, with the loader at st.
	snapshotAt := func(st data.SamplerState) trainState {
		if dev != nil { // the skip counters, current (a host read at checkpoints)
			ds := dev.read()
			s.skipped, s.consecutive = ds.skipped, ds.consecutive
		}
		best, bad := val.state()
		ts := trainState{Step: s.step, Epoch: st.Epoch, Position: st.Position, Offset: st.Offset, RNG: encodeRNG(rng),
			Skipped: s.skipped, Consecutive: s.consecutive, ValBest: best, ValBad: bad, Config: cfg}
		if d != nil {
			// Ranks advance in lockstep (checked with the parameter hash),
			// so rank 0's sampler state is every rank's; the generators
			// are derived from (seed, rank, step) and need no saving.
			ts.RNG, ts.World = "", d.world()
			for rk := 0; rk < d.world(); rk++ {
				ts.Ranks = append(ts.Ranks, rankState{Rank: rk, Epoch: st.Epoch, Position: st.Position, Offset: st.Offset})
			}
		}
		return ts
	}
	snapshot := func() trainState { return snapshotAt(loader.State()) }
	saveAt := func(st data.SamplerState) error {
		if !lead {
			return nil
		}
		path, err := saveCheckpoint(r.Dir, m, opt, snapshotAt(st), cfg.Checkpoint.Keep)
		if err == nil {
			sum.Checkpoint = path
			if r.OnCheckpoint != nil {
				r.OnCheckpoint(s.step, path)
			}
			r.Log.Debug().Str("checkpoint", path).Msg("checkpoint written")
		}
		return err
	}
	save := func() error { return saveAt(loader.State()) }
	// interrupted checkpoints the last completed step, with the loader at
	// st (where that step left it), and ends the run with ctx's error.
	interrupted := func(st data.SamplerState) (Summary, error) {
		if err := saveAt(st); err != nil {
			return sum, err
		}
		sum.Steps, sum.Skipped, sum.Elapsed = s.step, s.skipped, time.Since(start)
		return sum, ctx.Err()
	}
	// A collective that fails because ctx ended (Ctrl-C on any rank) is an
	// interrupt, not a failure: the last completed step is consistent on
	// rank 0 and is checkpointed.
	cut := func(err error) bool { return err != nil && ctx.Err() != nil && d != nil }
	tp := autodiff.NewTape(be)
	env := &stepEnv{tp: tp, m: m, params: trainable, obj: obj, opt: opt, sched: sched, loader: loader, rng: rng, red: red, dev: dev}
	for s.step < cfg.Steps {
		if ctx.Err() != nil {
			return interrupted(loader.State())
		}
		// The step about to run draws its batches first; if it is cut
		// short, the checkpoint must not count them as consumed.
		atStep := loader.State()
		met, cmd, err := r.step(ctx, env, &s)
		if cut(err) {
			return interrupted(atStep)
		}
		if err != nil {
			return sum, err
		}
		if met.Logged { // the statistics were read from the backend this step
			sum.LastLoss = met.Loss
			if r.OnStep != nil && lead {
				r.OnStep(met)
			}
		}
		switch cmd {
		case cmdCheckpoint:
			r.Log.Info().Int("step", s.step).Msg("checkpoint requested by the operator")
			if err := save(); err != nil {
				return sum, err
			}
		case cmdStop:
			r.Log.Info().Int("step", s.step).Msg("stop requested by the operator: checkpointing and stopping")
			if err := save(); err != nil {
				return sum, err
			}
			sum.Stopped = true
			sum.Steps, sum.Skipped, sum.Elapsed = s.step, s.skipped, time.Since(start)
			return sum, nil
		case cmdRegroup:
			if d == nil || s.step >= cfg.Steps {
				break
			}
			if err := save(); err != nil {
				return sum, err
			}
			sum.Steps = s.step
			return sum, ErrRegroup
		}
		if cfg.Checkpoint.Every > 0 && s.step%cfg.Checkpoint.Every == 0 && s.step < cfg.Steps {
			if err := save(); err != nil {
				return sum, err
			}
		}
		if d != nil && d.hashEvery() > 0 && s.step%d.hashEvery() == 0 {
			if err := checkReplicas(ctx, d, m, s.step, loader.State()); cut(err) {
				return interrupted(loader.State())
			} else if err != nil {
				return sum, err
			}
		}
		if val.due(s.step) {
			loss, err := r.validate(ctx, val, tp, m, obj, be)
			if cut(err) {
				return interrupted(loader.State())
			}
			if err != nil {
				return sum, fmt.Errorf("validation at step %d: %w", s.step, err)
			}
			improved, stop := val.record(loss)
			r.Log.Info().Int("step", s.step).Float64("val_loss", loss).Bool("best", improved).Msg("validation")
			if improved && lead {
				if err := saveBest(r.Dir, m, opt, snapshot()); err != nil {
					return sum, err
				}
			}
			if stop {
				r.Log.Info().Int("step", s.step).Int("patience", cfg.Validation.Patience).Float64("best", val.best).Msg("early stopping")
				sum.Stopped = true
				break
			}
		}
	}
	if err := save(); err != nil {
		return sum, err
	}
	if d != nil {
		// Nobody leaves before the final checkpoint is on disk: if rank 0
		// fails writing it, the others see it here and can recover.
		if err := d.Comm.Barrier(ctx); cut(err) {
			return interrupted(loader.State())
		} else if err != nil {
			return sum, fmt.Errorf("final barrier: %w", err)
		}
	}
	sum.Steps, sum.Skipped, sum.Elapsed = s.step, s.skipped, time.Since(start)
	return sum, nil
}

// validate evaluates the validation loss; in a data-parallel run rank 0
// evaluates and broadcasts it, so every rank takes the same early-stopping
// decision.
func (r Run) validate(ctx context.Context, val *validator, tp *autodiff.Tape, m models.Model, obj objective.Objective, be tensor.Backend) (float64, error) {
	d := r.Dist
	loss := 0.0
	if d.rank() == 0 {
		var err error
		if loss, err = val.evaluate(tp, m, obj, be); err != nil {
			return 0, err
		}
	}
	if d == nil {
		return loss, nil
	}
	t := tensor.NewHostTensor(tensor.DefaultCPU(), tensor.Shape{1}, nil, []float64{loss})
	if err := d.Comm.Broadcast(ctx, t, 0); err != nil {
		return 0, err
	}
	return t.Float64s()[0], nil
}

// newLoader opens the dataset and checks its samples fit the model.
func (r Run) newLoader(m models.Model, be tensor.Backend, dt tensor.DType) (*data.Loader, data.Dataset, error) {
	cfg := r.Config
	ds, err := data.Open(cfg.Data.Name, data.OpenOptions{DataDir: cfg.Data.Dir, DirHint: DataDirHint, Seed: cfg.Seed})
	if err != nil {
		return nil, nil, fmt.Errorf("data: %w", err)
	}
	n := ds.Len()
	if cfg.Data.Holdout > 0 {
		n -= int(float64(n) * cfg.Data.Holdout)
	}
	if cfg.Data.Limit > 0 && cfg.Data.Limit < n {
		n = cfg.Data.Limit
	}
	if n < ds.Len() {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		ds = &data.Subset{D: ds, Indices: idx, Label: fmt.Sprintf("first%d", n)}
	}
	ts, err := data.ParseTransforms(cfg.Data.Transforms)
	if err != nil {
		return nil, nil, fmt.Errorf("data.transforms: %w", err)
	}
	out, err := data.OutShapeOf(ts, ds.Shape())
	if err != nil {
		return nil, nil, fmt.Errorf("data.transforms: %w", err)
	}
	if got, want := tensor.Shape(out).Numel(), tensor.Shape(m.InputShape()).Numel(); got != want {
		return nil, nil, fmt.Errorf("data %s gives samples of shape %v (%d values) but the model takes %v (%d values)", ds.Name(), out, got, m.InputShape(), want)
	}
	if ds.Len() < cfg.Batch {
		return nil, nil, fmt.Errorf("data %s has %d samples, fewer than one batch of %d", ds.Name(), ds.Len(), cfg.Batch)
	}
	sampler, err := data.NewSampler(data.Sampler{N: ds.Len(), Rank: r.Dist.rank(), World: r.Dist.world(), Seed: cfg.Seed, Shuffle: true, DropLast: true})
	if err != nil {
		return nil, nil, err
	}
	l, err := data.NewLoader(data.LoaderOptions{Dataset: ds, Sampler: sampler, Transforms: ts, BatchSize: cfg.Batch,
		DropLast: true, Backend: be, DType: dt, Seed: cfg.Seed})
	return l, ds, err
}

// saveBest writes the current parameters as the checkpoint "best"
// (replacing the previous best atomically).
func saveBest(dir string, m models.Model, opt Optimizer, st trainState) error {
	tmpDir, err := os.MkdirTemp(dir, ".best-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmpDir)
	path, err := saveCheckpoint(tmpDir, m, opt, st, 1)
	if err != nil {
		return err
	}
	best := filepath.Join(dir, "best")
	old := best + ".old"
	os.RemoveAll(old)
	if fileExists(best) {
		if err := os.Rename(best, old); err != nil {
			return err
		}
	}
	if err := os.Rename(path, best); err != nil {
		return err
	}
	os.RemoveAll(old)
	return nil
}

// selectParams returns the parameters named in only (all when empty); an
// unknown name is an error listing the valid ones.
func selectParams(m models.Model, only []string) ([]*autodiff.Param, error) {
	all := m.Params()
	if len(only) == 0 {
		return all, nil
	}
	byName := map[string]*autodiff.Param{}
	var names []string
	for _, p := range all {
		byName[p.Name] = p
		names = append(names, p.Name)
	}
	var out []*autodiff.Param
	for _, n := range only {
		p, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("train_only: no parameter %q (valid: %s)", n, strings.Join(names, ", "))
		}
		out = append(out, p)
	}
	return out, nil
}

// ModelFile resolves a run directory (its newest checkpoint), a checkpoint
// directory or a model .safetensors file to the model file.
func ModelFile(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if !st.IsDir() {
		return path, nil
	}
	if f := filepath.Join(path, "model.safetensors"); fileExists(f) {
		return f, nil
	}
	if list := listCheckpoints(path); len(list) > 0 {
		return filepath.Join(list[0], "model.safetensors"), nil
	}
	return "", fmt.Errorf("%s: no checkpoint found (want a run directory, a checkpoint directory or a .safetensors file)", path)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// claimDir makes the run directory this run's: a fresh run refuses (or,
// with Overwrite, moves aside) a directory holding another run; then the
// directory must be writable. A resume keeps what is there.
func (r Run) claimDir() error {
	if !r.Resume {
		moved, err := claimRunDir(r.Dir, r.Overwrite, time.Now())
		if err != nil {
			return err
		}
		if moved != "" {
			r.Log.Warn().Str("dir", r.Dir).Str("moved_to", moved).Msg("--overwrite: the old run was moved aside")
		}
	}
	return checkWritable(r.Dir)
}

// checkWritable creates dir and proves a file can be written there.
func checkWritable(dir string) error {
	if dir == "" {
		return errors.New("output directory: empty path")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".write-test-")
	if err != nil {
		return fmt.Errorf("output directory %s is not writable: %w", dir, err)
	}
	f.Close()
	return os.Remove(filepath.Join(dir, filepath.Base(f.Name())))
}
