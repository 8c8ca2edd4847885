package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/collective"
	"github.com/fdsm-go/fdsm/data"
	"github.com/fdsm-go/fdsm/device"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/objective"
	"github.com/fdsm-go/fdsm/tensor"
)

// Train runs the loop. Every configuration error is reported before any
// training starts. A cancelled ctx writes a checkpoint and returns ctx's
// error.
func (r Run) Train(ctx context.Context) (Summary, error) {
	if err := r.Config.Validate(); err != nil {
		return Summary{}, err
	}
	if r.Resume {
		// Resuming a finished run would rewrite its last checkpoint.
		if step, path, ok := CompletedRun(r.Dir, r.Config.Steps); ok {
			return Summary{Steps: step, Checkpoint: path, AlreadyComplete: true, Rank: r.Dist.rank()}, nil
		}
	}
	ss, err := r.setUp(ctx)
	if err != nil {
		return Summary{}, err
	}
	defer ss.env.data.close()
	if ss.env.red != nil {
		defer ss.env.red.close()
	}
	return ss.loop()
}

// session is one call of Train: what setUp builds and the loop mutates.
//
// Threading: used by the training goroutine only.
type session struct {
	r     Run
	ctx   context.Context
	cfg   Config
	d     *Distributed
	lead  bool // rank 0 (or the only process): writes the run directory
	start time.Time
	be    tensor.Backend
	val   *validator
	env   *stepEnv
	s     runState
	sum   Summary
}

// setUp builds the model, data, objective and optimizer (all checks that
// only read come first), then claims the run directory, restores a
// checkpoint when resuming, agrees with the other ranks and starts the
// loader.
func (r Run) setUp(ctx context.Context) (ss *session, err error) {
	cfg := r.Config
	ss = &session{r: r, ctx: ctx, cfg: cfg, d: r.Dist, lead: r.Dist.rank() == 0, start: time.Now()}
	env, ds, err := r.build(ss.d)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			env.data.close()
		}
	}()
	ss.env, ss.be = env, env.tp.Backend()
	if ss.val, err = newValidator(cfg, env.m); err != nil {
		return nil, err
	}
	if err := r.initModel(env.m, ds); err != nil {
		return nil, err
	}
	// Everything above only reads; the run directory is claimed (and
	// written) from here on.
	if ss.lead {
		if err := r.claimDir(); err != nil {
			return nil, err
		}
	}
	if err := ss.restore(); err != nil {
		return nil, err
	}
	env.syncGroup() // the lead's restored (or rank 0's) parameters, to every replica
	dt, _ := tensor.ParseDType(cfg.DType)
	env.dev = newDeviceSteps(ss.be, dt, cfg, ss.s.skipped, ss.s.consecutive)
	if ss.d != nil {
		if env.red, err = newReducer(ss.d.Comm, env.params, ss.d.FirstBucketBytes, ss.d.BucketBytes); err != nil {
			return nil, err
		}
	}
	ss.sum = Summary{Model: env.m, Rank: ss.d.rank()}
	return ss, nil
}

// build makes everything a step uses from the config, on the config's
// device, and returns it with the training dataset.
func (r Run) build(d *Distributed) (*stepEnv, data.Dataset, error) {
	cfg := r.Config
	dt, _ := tensor.ParseDType(cfg.DType)
	be, err := device.Open(cfg.Device)
	if err != nil {
		return nil, nil, err
	}
	if cfg.TF32 {
		if err := device.SetTF32(be, true); err != nil {
			return nil, nil, err
		}
	}
	m, err := models.Build(cfg.ModelSpec(), be, dt, cfg.Seed)
	if err != nil {
		return nil, nil, err
	}
	if _, ok := m.(models.BatchFitter); ok && d.world() > 1 {
		return nil, nil, fmt.Errorf("data-parallel training of %s is not supported: each step fits part of the model to the local batch, so replicas would differ; train it with one process", m.Spec().Kind)
	}
	params, err := selectParams(m, cfg.TrainOnly)
	if err != nil {
		return nil, nil, err
	}
	obj, err := objective.New(cfg.Objective.Name, cfg.objectiveOptions())
	if err != nil {
		return nil, nil, err
	}
	opt, err := NewOptimizer(cfg.Optimizer.Kind, OptimizerOptions{Beta1: cfg.Optimizer.Beta1, Beta2: cfg.Optimizer.Beta2,
		Eps: cfg.Optimizer.Eps, WeightDecay: cfg.Optimizer.WeightDecay, Momentum: cfg.Optimizer.Momentum})
	if err != nil {
		return nil, nil, err
	}
	sched, err := NewSchedule(cfg.Schedule.Kind, cfg.Optimizer.LR, cfg.Steps, cfg.Schedule.Warmup, cfg.Schedule.MinLR)
	if err != nil {
		return nil, nil, err
	}
	env := &stepEnv{tp: autodiff.NewTape(be), m: m, evalModel: m, params: params, gradParams: params, obj: obj, opt: opt,
		sched: sched, rng: tensor.NewRNG(cfg.Seed ^ 0x5eed)}
	if k := cfg.Parallel.FDDevices; k > 1 {
		if err := env.spreadOver(cfg, k); err != nil {
			return nil, nil, err
		}
	}
	if cfg.Data.Shards != "" {
		src, err := r.newShardSource(m, be, dt)
		if err != nil {
			return nil, nil, err
		}
		env.data = src
		return env, nil, nil
	}
	loader, ds, err := r.newLoader(m, be, dt)
	if err != nil {
		return nil, nil, err
	}
	env.data = indexedSource{loader}
	return env, ds, nil
}

// initModel sets the parameters a fresh run starts from: init_from's, and
// what a model initialises from the data (resuming overwrites both).
func (r Run) initModel(m models.Model, ds data.Dataset) error {
	cfg := r.Config
	if di, ok := m.(models.DataInitializer); ok && cfg.InitFrom == "" {
		if ds == nil {
			return fmt.Errorf("model %s initialises itself from training samples, which needs an indexed dataset (data.name), not data.shards", m.Spec().Kind)
		}
		get := func(i int, dst []float32) error { _, err := ds.Get(i, dst); return err }
		if err := di.InitFromData(ds.Len(), get); err != nil {
			return err
		}
	}
	if cfg.InitFrom != "" {
		path, err := ModelFile(cfg.InitFrom)
		if err != nil {
			return fmt.Errorf("init_from: %w", err)
		}
		if err := models.LoadParams(path, m); err != nil {
			return fmt.Errorf("init_from: %w", err)
		}
	}
	return nil
}

// restore loads the newest readable checkpoint when resuming (rank 0),
// brings every rank to rank 0's state, and starts the loader where the
// state says (resharded when the world size changed).
func (ss *session) restore() error {
	r, d, env := ss.r, ss.d, ss.env
	st := trainState{Config: ss.cfg}
	resumed := ""
	if r.Resume && ss.lead {
		path, got, err := restoreLatest(r.Dir, env.m, env.opt, r.ResumeFinite, func(p string, err error) {
			r.Log.Warn().Str("checkpoint", p).Err(err).Msg("unreadable checkpoint skipped; trying the previous one")
		})
		if err != nil {
			return err
		}
		if path == "" {
			r.Log.Info().Str("dir", r.Dir).Msg("no checkpoint to resume from; starting fresh")
		} else {
			st, resumed = got, path
			// Data-parallel checkpoints save no generator (ranks derive theirs
			// from the step); a single process then keeps its fresh one.
			if st.RNG != "" && d == nil {
				if err := decodeRNG(st.RNG, env.rng); err != nil {
					return fmt.Errorf("%s: rng state: %w", path, err)
				}
			}
		}
	}
	if d != nil {
		// Every rank starts from rank 0's parameters, optimizer and state.
		var err error
		if st, err = syncState(ss.ctx, d, env.m, env.opt, st); err != nil {
			return err
		}
	}
	epoch, err := env.data.resume(st, d.world(), r.Log)
	if err != nil {
		return err
	}
	if st.Step > 0 {
		ss.s = runState{step: st.Step, epoch: epoch, skipped: st.Skipped, consecutive: st.Consecutive}
		ss.val.restore(st.ValBest, st.ValBad)
		r.Log.Info().Str("checkpoint", resumed).Int("step", ss.s.step).Msg("resumed")
	}
	return nil
}

// loop runs the steps, acting after each on commands, checkpoints, replica
// checks and validation, and writes the final checkpoint.
func (ss *session) loop() (Summary, error) {
	r, cfg, env := ss.r, ss.cfg, ss.env
	for ss.s.step < cfg.Steps {
		if ss.ctx.Err() != nil {
			return ss.interrupted(env.data.position())
		}
		// The step about to run draws its batches first; if it is cut
		// short, the checkpoint must not count them as consumed.
		atStep := env.data.position()
		met, cmd, err := r.step(ss.ctx, env, &ss.s)
		if ss.cut(err) {
			if errors.As(err, new(updatedError)) {
				atStep = env.data.position() // the step completed
			}
			return ss.interrupted(atStep)
		}
		if err != nil {
			return ss.sum, err
		}
		if met.Logged { // the statistics were read from the backend this step
			ss.sum.LastLoss = met.Loss
			if r.OnStep != nil && ss.lead {
				r.OnStep(met)
			}
		}
		if done, sum, err := ss.afterStep(cmd); done {
			return sum, err
		}
		if ss.sum.Stopped {
			break
		}
	}
	if err := ss.save(); err != nil {
		return ss.sum, err
	}
	if ss.d != nil {
		// Nobody leaves before the final checkpoint is on disk: if rank 0
		// fails writing it, the others see it here and can recover.
		if err := ss.d.Comm.Barrier(ss.ctx); ss.cut(err) {
			return ss.interrupted(env.data.position())
		} else if err != nil {
			return ss.sum, fmt.Errorf("final barrier: %w", err)
		}
	}
	return ss.finish(), nil
}

// afterStep obeys the operator's command and writes the periodic
// checkpoint, replica check and validation. done ends the run with sum and
// err; an early stop sets sum.Stopped and lets the loop finish.
func (ss *session) afterStep(cmd command) (done bool, sum Summary, err error) {
	r, cfg, d, step := ss.r, ss.cfg, ss.d, ss.s.step
	switch cmd {
	case cmdCheckpoint:
		r.Log.Info().Int("step", step).Msg("checkpoint requested by the operator")
		if err := ss.save(); err != nil {
			return true, ss.sum, err
		}
	case cmdStop:
		r.Log.Info().Int("step", step).Msg("stop requested by the operator: checkpointing and stopping")
		if err := ss.save(); err != nil {
			return true, ss.sum, err
		}
		ss.sum.Stopped = true
		return true, ss.finish(), nil
	case cmdRegroup:
		if d == nil || step >= cfg.Steps {
			break
		}
		if err := ss.save(); err != nil {
			return true, ss.sum, err
		}
		ss.sum.Steps = step
		return true, ss.sum, ErrRegroup
	}
	if cfg.Checkpoint.Every > 0 && step%cfg.Checkpoint.Every == 0 && step < cfg.Steps {
		if err := ss.save(); err != nil {
			return true, ss.sum, err
		}
	}
	if d != nil && d.hashEvery() > 0 && step%d.hashEvery() == 0 {
		if err := checkReplicas(ss.ctx, d, ss.env.m, step, ss.env.data.position().SamplerState); ss.cut(err) {
			sum, err := ss.interrupted(ss.env.data.position())
			return true, sum, err
		} else if err != nil {
			return true, ss.sum, err
		}
	}
	if step%groupCheckEvery == 0 {
		if err := ss.env.checkGroup(step); err != nil {
			return true, ss.sum, err
		}
	}
	if ss.val.due(step) {
		return ss.validate()
	}
	return false, Summary{}, nil
}

// groupCheckEvery is how often a device group's replicas are compared
// with the lead (a host read of every replica's parameters).
const groupCheckEvery = 100

// validate runs a due validation, keeps the best parameters and decides
// on early stopping (ss.sum.Stopped).
func (ss *session) validate() (done bool, sum Summary, err error) {
	r, env, step := ss.r, ss.env, ss.s.step
	loss, err := r.validate(ss.ctx, ss.val, env.tp, env.m, env.obj, ss.be)
	if ss.cut(err) {
		sum, err := ss.interrupted(env.data.position())
		return true, sum, err
	}
	if err != nil {
		return true, ss.sum, fmt.Errorf("validation at step %d: %w", step, err)
	}
	improved, stop := ss.val.record(loss)
	r.Log.Info().Int("step", step).Float64("val_loss", loss).Bool("best", improved).Msg("validation")
	if improved {
		pos, ok, err := ss.worldPos(env.data.position())
		if ss.cut(err) {
			sum, err := ss.interrupted(env.data.position())
			return true, sum, err
		}
		if err != nil {
			return true, ss.sum, err
		}
		if ok && ss.lead {
			if err := saveBest(r.Dir, env.m, env.opt, ss.snapshotAt(pos)); err != nil {
				return true, ss.sum, err
			}
		}
	}
	if stop {
		r.Log.Info().Int("step", step).Int("patience", ss.cfg.Validation.Patience).Float64("best", ss.val.best).Msg("early stopping")
		ss.sum.Stopped = true
	}
	return false, Summary{}, nil
}

// snapshotAt is everything state.json records, with the loader at st.
func (ss *session) snapshotAt(pos dataPos) trainState {
	st := pos.SamplerState
	st.Epoch = pos.epoch()
	s, d := &ss.s, ss.d
	if dev := ss.env.dev; dev != nil { // the skip counters, current (a host read at checkpoints)
		ds := dev.read()
		s.skipped, s.consecutive = ds.skipped, ds.consecutive
	}
	best, bad := ss.val.state()
	ts := trainState{Step: s.step, Epoch: st.Epoch, Position: st.Position, Offset: st.Offset, RNG: encodeRNG(ss.env.rng),
		Skipped: s.skipped, Consecutive: s.consecutive, ValBest: best, ValBad: bad, Config: ss.cfg,
		Shards: pos.Shards, ShardRanks: pos.ShardRanks}
	if d != nil {
		// Ranks advance in lockstep (checked with the parameter hash),
		// so rank 0's sampler state is every rank's; the generators
		// are derived from (seed, rank, step) and need no saving.
		ts.RNG, ts.World = "", d.world()
		for rk := 0; rk < d.world() && pos.Shards == nil && pos.ShardRanks == nil; rk++ {
			ts.Ranks = append(ts.Ranks, rankState{Rank: rk, Epoch: st.Epoch, Position: st.Position, Offset: st.Offset})
		}
	}
	return ts
}

// saveAt writes a checkpoint (rank 0) with the loader at st. Every rank
// calls it (data parallel over shards, the ranks' positions are gathered
// here).
func (ss *session) saveAt(st dataPos) error {
	st, ok, err := ss.worldPos(st)
	if err != nil || !ok || !ss.lead {
		return err
	}
	r := ss.r
	path, err := saveCheckpoint(r.Dir, ss.env.m, ss.env.opt, ss.snapshotAt(st), ss.cfg.Checkpoint.Keep)
	if err == nil {
		ss.sum.Checkpoint = path
		if r.OnCheckpoint != nil {
			r.OnCheckpoint(ss.s.step, path)
		}
		r.Log.Debug().Str("checkpoint", path).Msg("checkpoint written")
	}
	return err
}

func (ss *session) save() error { return ss.saveAt(ss.env.data.position()) }

// interrupted checkpoints the last completed step, with the loader at st
// (where that step left it), and ends the run with ctx's error.
func (ss *session) interrupted(st dataPos) (Summary, error) {
	if err := ss.saveAt(st); err != nil {
		return ss.sum, err
	}
	return ss.finish(), ss.ctx.Err()
}

// cut reports whether err is a collective that failed because ctx ended
// (Ctrl-C on any rank): an interrupt, not a failure; the last completed
// step is consistent on rank 0 and is checkpointed. A Ctrl-C reaches every
// rank at about the same time, but a peer that stopped first can fail
// this rank's collective before its own signal lands: so a failed
// collective waits up to interruptGrace for this rank's interrupt before
// it counts as a failure.
func (ss *session) cut(err error) bool {
	if err == nil || ss.d == nil {
		return false
	}
	t := time.NewTimer(interruptGrace)
	defer t.Stop()
	select {
	case <-ss.ctx.Done():
		return true
	case <-t.C:
		return false
	}
}

// interruptGrace is how long a rank whose collective failed waits for its
// own interrupt (see cut); a real failure is reported that much later.
const interruptGrace = 2 * time.Second

// finish fills in the summary's totals.
func (ss *session) finish() Summary {
	ss.sum.Steps, ss.sum.Skipped, ss.sum.Elapsed = ss.s.step, ss.s.skipped, time.Since(ss.start)
	return ss.sum
}

// worldPos turns this rank's data position into the world's for a
// checkpoint. Only data-parallel runs over shards without an index need
// it: each rank knows only its own streams, so every rank sends its
// position to the others
// (a collective on the control communicator: all ranks call it at the same
// step). When the run is being interrupted (the collectives are cut) that
// cannot be done: ok is false and err the context's, and the newest
// checkpoint stays the last one written, which a resume continues exactly.
func (ss *session) worldPos(pos dataPos) (world dataPos, ok bool, err error) {
	if ss.d == nil || pos.Shards == nil || pos.world {
		return pos, true, nil
	}
	interrupted := func() (dataPos, bool, error) {
		if ss.lead {
			ss.r.Log.Warn().Int("step", ss.s.step).Msg("interrupted: no checkpoint of this step, since the other ranks' shard positions cannot be gathered now; the last checkpoint stays the newest")
		}
		return pos, false, ss.ctx.Err()
	}
	if ss.ctx.Err() != nil {
		return interrupted()
	}
	mine, err := json.Marshal(pos.Shards)
	if err != nil {
		return pos, false, err
	}
	all, err := collective.AllGatherBytes(ss.ctx, ss.d.control(), mine)
	if ss.cut(err) {
		return interrupted()
	}
	if err != nil {
		return pos, false, fmt.Errorf("gathering the ranks' shard positions: %w", err)
	}
	ranks := make([]data.ShardState, len(all))
	for r, b := range all {
		if err := json.Unmarshal(b, &ranks[r]); err != nil {
			return pos, false, fmt.Errorf("rank %d's shard position: %w", r, err)
		}
	}
	if merged, err := data.MergeShardStates(ranks); err == nil {
		return dataPos{Shards: &merged}, true, nil
	}
	return dataPos{ShardRanks: ranks}, true, nil
}
