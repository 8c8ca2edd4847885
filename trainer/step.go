package trainer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/data"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/objective"
	"github.com/fdsm-go/fdsm/tensor"
)

// stepEnv is what every step of a run uses.
type stepEnv struct {
	tp     *autodiff.Tape
	m      models.Model
	params []*autodiff.Param
	obj    objective.Objective
	opt    Optimizer
	sched  Schedule
	loader *data.Loader
	rng    *tensor.RNG
	red    *reducer     // data parallel; nil for one process
	dev    *deviceSteps // one process: the step's decisions on the backend
}

// step runs one optimisation step (Accumulate micro-batches). One process
// keeps the whole step on the backend (deviceSteps): the loss, the gradient
// norm and the decision to skip a bad step never reach the host, which
// reads them once per logging interval. Data parallel, the step's loss and
// bad flag travel with the first gradient bucket, so each micro-batch's
// loss is read; every rank takes part in the reduction even after a bad
// loss, so all ranks agree to skip the step.
func (r Run) step(ctx context.Context, env *stepEnv, s *runState) (met StepMetrics, cmd command, err error) {
	cfg, d := r.Config, r.Dist
	if d != nil {
		env.rng.Reseed(stepSeed(cfg.Seed, d.rank(), s.step))
	}
	met = StepMetrics{Step: s.step + 1, Epoch: s.epoch, Time: time.Now()}
	if r.PollCommand != nil && d.rank() == 0 {
		cmd = parseCommand(r.PollCommand())
	}
	t0 := time.Now()
	if env.red == nil {
		err = r.stepOnDevice(env, s, &met)
	} else {
		cmd, err = r.stepDataParallel(ctx, env, s, &met, cmd)
	}
	if err != nil {
		return met, cmd, err
	}
	met.StepMs = ms(time.Since(t0))
	met.SamplesPerSec = float64(cfg.Batch*cfg.Accumulate) / time.Since(t0).Seconds()
	return met, cmd, nil
}

// microBatch draws the next batch (starting the next epoch at the end of
// one) and evaluates the objective on it. keep is false when the batch is
// only drawn (data parallel after a bad loss: the sampler stays in
// lockstep). The caller resets the tape and releases the batch.
func (r Run) microBatch(env *stepEnv, s *runState, met *StepMetrics, keep bool) (res objective.Result, em models.Model, b data.Batch, err error) {
	td := time.Now()
	b, err = env.loader.Next()
	for errors.Is(err, io.EOF) {
		s.epoch++
		if err = env.loader.Start(s.epoch, 0); err != nil {
			return res, nil, b, err
		}
		b, err = env.loader.Next()
	}
	if err != nil {
		return res, nil, b, err
	}
	met.DataWaitMs += ms(time.Since(td))
	if !keep {
		return res, nil, b, nil
	}
	tp, x := env.tp, b.X
	if j := r.Config.Jitter; j > 0 {
		noise := tp.Random(x.DType(), tensor.Normal(0, j), env.rng, x.Shape()...)
		x = autodiff.Add(tp.Const(x), noise).Value()
	}
	tf := time.Now()
	em = env.m
	if bf, ok := env.m.(models.BatchFitter); ok {
		if em, x, err = bf.FitBatch(tp, x); err != nil {
			return res, nil, b, err
		}
	}
	res, err = env.obj.Eval(tp, em, objective.Batch{X: x}, env.rng)
	met.ForwardMs += ms(time.Since(tf))
	return res, em, b, err
}

// backward adds the loss's gradients into the parameters (handing them to
// the reducer as they complete when ready is set) and keeps a batch fit
// (DKEF's α) in the model.
func backward(m, em models.Model, res objective.Result, params []*autodiff.Param, ready func(*autodiff.Param), met *StepMetrics) {
	tb := time.Now()
	if ready != nil {
		autodiff.BackwardReady(res.Loss, params, ready)
	} else {
		autodiff.Backward(res.Loss, params)
	}
	met.BackwardMs += ms(time.Since(tb))
	if bf, ok := m.(models.BatchFitter); ok {
		bf.KeepFit(em)
	}
}

// stepOnDevice runs a step of one process with no host synchronisation:
// every micro-batch's backward runs (a NaN loss gives NaN gradients, which
// the gate skips), the loss is summed on the backend, and the gate decides
// on the backend whether the update applies.
func (r Run) stepOnDevice(env *stepEnv, s *runState, met *StepMetrics) error {
	cfg := r.Config
	for micro := 0; micro < cfg.Accumulate; micro++ {
		res, em, b, err := r.microBatch(env, s, met, true)
		if err != nil {
			b.Release()
			return err
		}
		env.dev.addLoss(res.Loss.Value(), micro == 0)
		backward(env.m, em, res, env.params, nil, met)
		met.EngineBytes = max(met.EngineBytes, env.tp.Backend().MemStats().InUseBytes)
		env.tp.Reset()
		b.Release()
	}
	to := time.Now()
	met.LR = env.sched.LR(s.step) // updates done so far: LR(0) is the first update's rate
	gate := env.dev.gate(env.params, s.step >= cfg.BadSteps.After)
	env.opt.Step(env.params, met.LR, gate)
	autodiff.ZeroGrad(env.params)
	s.step++
	met.OptimizerMs = ms(time.Since(to))
	if r.logDue(s.step) {
		return r.readStepStats(env.dev, s, met)
	}
	return nil
}

// logDue reports whether the step just finished is a logging step: every
// LogEvery steps and the last.
func (r Run) logDue(step int) bool {
	return step%max(r.Config.LogEvery, 1) == 0 || step >= r.Config.Steps
}

// readStepStats reads the backend's step statistics (one host
// synchronisation) into met and s, warns about skipped steps, and fails
// after MaxConsecutive bad steps in a row.
func (r Run) readStepStats(dev *deviceSteps, s *runState, met *StepMetrics) error {
	st := dev.read()
	met.Logged = true
	met.Loss, met.GradNorm = st.loss, st.gradNorm
	newly := st.skipped - s.skipped
	met.Skipped = newly > 0
	s.skipped, s.consecutive = st.skipped, st.consecutive
	if newly > 0 {
		r.Log.Warn().Int("step", s.step).Int("skipped", newly).Float64("loss", met.Loss).Float64("grad_norm", met.GradNorm).
			Msg("bad steps skipped (NaN/Inf, or loss above bad_steps.max_loss)")
	}
	if max := r.Config.BadSteps.MaxConsecutive; s.consecutive >= max {
		return fmt.Errorf("step %d: %d consecutive bad steps (NaN/Inf or loss above %g): stopping; lower the learning rate or check the data", s.step, s.consecutive, r.Config.BadSteps.MaxLoss)
	}
	return nil
}

// stepDataParallel runs a step of one rank: micro-batch losses are read on
// the host (they ride the first gradient bucket to the other ranks), the
// last micro-batch's backward hands gradients to the reducer as they
// complete, and the update is skipped on every rank when any was bad.
func (r Run) stepDataParallel(ctx context.Context, env *stepEnv, s *runState, met *StepMetrics, cmd command) (command, error) {
	cfg, d, red := r.Config, r.Dist, env.red
	lossSum, bad, prepared := 0.0, false, false
	for micro := 0; micro < cfg.Accumulate; micro++ {
		res, em, b, err := r.microBatch(env, s, met, !bad)
		if err != nil {
			b.Release()
			return cmd, err
		}
		if !bad {
			loss := res.Loss.Item()
			lossSum += loss
			if math.IsNaN(loss) || math.IsInf(loss, 0) || (s.step >= cfg.BadSteps.After && loss > cfg.BadSteps.MaxLoss) {
				bad = true
			} else if micro == cfg.Accumulate-1 {
				red.prepare(ctx, lossSum/float64(cfg.Accumulate), false, cmd)
				prepared = true
				backward(env.m, em, res, env.params, red.ready, met)
			} else {
				backward(env.m, em, res, env.params, nil, met)
			}
		}
		met.EngineBytes = max(met.EngineBytes, env.tp.Backend().MemStats().InUseBytes)
		env.tp.Reset()
		b.Release()
	}
	if !prepared {
		red.prepare(ctx, math.NaN(), true, cmd)
	}
	loss, anyBad, agreed, wait, err := red.finish()
	if err != nil {
		return cmd, fmt.Errorf("step %d: gradient all-reduce: %w", s.step+1, err)
	}
	met.Loss, met.Logged, cmd = loss, true, agreed
	dm := DistStepMetrics{Rank: d.rank(), World: d.world(), Generation: d.Generation, Step: s.step + 1,
		CollectiveWaitMs: ms(wait), Arrival: red.arrival, Loss: loss}
	err = r.updateDataParallel(env, s, met, anyBad)
	if d.OnStep != nil {
		dm.StepMs, dm.DataWaitMs, dm.ComputeMs = ms(time.Since(met.Time)), met.DataWaitMs, met.ForwardMs+met.BackwardMs
		dm.SamplesPerSec = float64(cfg.Batch*cfg.Accumulate) / time.Since(met.Time).Seconds()
		d.OnStep(dm)
	}
	return cmd, err
}

// updateDataParallel applies a data-parallel rank's update from the
// averaged gradients, or skips it when any rank was bad (or the norm is
// not finite), keeping the skip counters on the host.
func (r Run) updateDataParallel(env *stepEnv, s *runState, met *StepMetrics, bad bool) error {
	cfg := r.Config
	to := time.Now()
	if !bad {
		if cfg.Accumulate > 1 {
			ScaleGrads(env.params, 1/float64(cfg.Accumulate))
		}
		met.GradNorm = ClipGradNorm(env.params, clipOf(cfg))
		bad = math.IsNaN(met.GradNorm) || math.IsInf(met.GradNorm, 0)
	}
	met.LR = env.sched.LR(s.step)
	s.step++
	if bad {
		s.skipped++
		s.consecutive++
		met.Skipped = true
		r.Log.Warn().Int("step", s.step).Float64("loss", met.Loss).Float64("grad_norm", met.GradNorm).Msg("bad step skipped")
	} else {
		s.consecutive = 0
		env.opt.Step(env.params, met.LR, nil)
	}
	autodiff.ZeroGrad(env.params)
	met.OptimizerMs = ms(time.Since(to))
	if bad && s.consecutive >= cfg.BadSteps.MaxConsecutive {
		return fmt.Errorf("step %d: %d consecutive bad steps (NaN/Inf or loss above %g): stopping; lower the learning rate or check the data", s.step, s.consecutive, cfg.BadSteps.MaxLoss)
	}
	return nil
}

// clipOf is the gradient clipping norm (+Inf: none).
func clipOf(cfg Config) float64 {
	if cfg.ClipNorm == 0 {
		return math.Inf(1)
	}
	return cfg.ClipNorm
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
