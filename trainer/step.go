package trainer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/collective"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/objective"
	"github.com/fdsm-go/fdsm/tensor"
)

// stepEnv is what every step of a run uses.
type stepEnv struct {
	tp     *autodiff.Tape
	m      models.Model
	params []*autodiff.Param
	// evalModel is what the objective evaluates: m, or its replicas over a
	// device group (parallel.fd_devices), whose parameters gradParams adds
	// to params for backward.
	evalModel  models.Model
	gradParams []*autodiff.Param
	group      *models.Replicas
	obj        objective.Objective
	opt        Optimizer
	sched      Schedule
	data       batchSource
	rng        *tensor.RNG
	red        *reducer     // data parallel; nil for one process
	dev        *deviceSteps // one process: the step's decisions on the backend
}

// step runs one optimisation step (Accumulate micro-batches). The whole
// step stays on the backend (deviceSteps): the loss, the gradient norm and
// the decision to skip a bad step never reach the host, which reads them
// once per logging interval. Data parallel, the gradients are averaged
// across ranks in between, and the ranks agree on bad steps through them.
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
func (r Run) microBatch(env *stepEnv, s *runState, met *StepMetrics, keep bool) (res objective.Result, em models.Model, b trainBatch, err error) {
	td := time.Now()
	b, err = env.data.next()
	for errors.Is(err, io.EOF) {
		s.epoch++
		if err = env.data.nextEpoch(s.epoch); err != nil {
			return res, nil, b, err
		}
		b, err = env.data.next()
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
	if dp, ok := env.m.(models.DataProjector); ok {
		x = dp.Project(tp, x)
	}
	em = env.evalModel
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
		backward(env.m, em, res, env.gradParams, nil, met)
		met.EngineBytes = max(met.EngineBytes, env.tp.Backend().MemStats().InUseBytes)
		env.tp.Reset()
		b.Release()
	}
	env.gatherGroup()
	to := time.Now()
	met.LR = env.sched.LR(s.step) // updates done so far: LR(0) is the first update's rate
	gate := env.dev.gate(env.params, true, s.step >= cfg.BadSteps.After)
	env.opt.Step(env.params, met.LR, gate)
	env.syncGroup()
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

// stepDataParallel runs a step of one rank with no host synchronisation
// of its own: every micro-batch's backward runs, the last one's loss is
// multiplied by the rank's poison (1, or NaN after a bad loss) so that a
// bad rank makes every rank's averaged gradient NaN, and the gate then
// skips the update on every rank alike. Losses and rank 0's command travel
// as a control message at logging steps only (agreeLogged).
func (r Run) stepDataParallel(ctx context.Context, env *stepEnv, s *runState, met *StepMetrics, cmd command) (command, error) {
	cfg, d, red := r.Config, r.Dist, env.red
	for micro := 0; micro < cfg.Accumulate; micro++ {
		res, em, b, err := r.microBatch(env, s, met, true)
		if err != nil {
			b.Release()
			return cmdNone, err
		}
		env.dev.addLoss(res.Loss.Value(), micro == 0)
		if micro == cfg.Accumulate-1 {
			p := env.dev.poison(s.step >= cfg.BadSteps.After)
			res.Loss = autodiff.Mul(res.Loss, env.tp.Const(p.Reshape(res.Loss.Value().Shape()...)))
			red.prepare(ctx)
			if env.group == nil {
				backward(env.m, em, res, env.params, red.ready, met)
			} else { // the lead's gradients are final once the group's are gathered: finish launches every bucket
				backward(env.m, em, res, env.gradParams, nil, met)
				env.gatherGroup()
			}
		} else {
			backward(env.m, em, res, env.gradParams, nil, met)
		}
		met.EngineBytes = max(met.EngineBytes, env.tp.Backend().MemStats().InUseBytes)
		env.tp.Reset()
		b.Release()
	}
	wait, err := red.finish()
	if err != nil {
		return cmdNone, fmt.Errorf("step %d: gradient all-reduce: %w", s.step+1, err)
	}
	to := time.Now()
	met.LR = env.sched.LR(s.step)
	gate := env.dev.gate(env.params, false, false)
	env.opt.Step(env.params, met.LR, gate)
	env.syncGroup()
	autodiff.ZeroGrad(env.params)
	s.step++
	met.OptimizerMs = ms(time.Since(to))
	if s.pending == cmdNone {
		s.pending = cmd
	}
	cmd = cmdNone
	if r.logDue(s.step) {
		if cmd, err = r.agreeLogged(ctx, env.dev, s, met); err != nil {
			return cmdNone, updatedError{err}
		}
	}
	if d.OnStep != nil {
		d.OnStep(DistStepMetrics{Rank: d.rank(), World: d.world(), Generation: d.Generation, Step: s.step,
			CollectiveWaitMs: ms(wait), Arrival: red.arrival, Loss: s.loss,
			StepMs: ms(time.Since(met.Time)), DataWaitMs: met.DataWaitMs, ComputeMs: met.ForwardMs + met.BackwardMs,
			SamplesPerSec: float64(cfg.Batch*cfg.Accumulate) / time.Since(met.Time).Seconds()})
	}
	return cmd, nil
}

// updatedError is a step's failure after its update was applied: an
// interrupt checkpoints that step as completed, with the loader where the
// step left it.
type updatedError struct{ err error }

func (e updatedError) Error() string { return e.err.Error() }
func (e updatedError) Unwrap() error { return e.err }

// agreeLogged reads this rank's step statistics (one host synchronisation
// per logging interval) and exchanges them with the other ranks on the
// control communicator: the logged loss is the mean over ranks, and rank
// 0's pending command is obeyed by every rank at this step. The skip
// counters come from the gate, which saw the same averaged gradient on
// every rank, so every rank stops alike after too many bad steps.
func (r Run) agreeLogged(ctx context.Context, dev *deviceSteps, s *runState, met *StepMetrics) (command, error) {
	if err := r.readStepStats(dev, s, met); err != nil {
		return cmdNone, err
	}
	mine := rankStepStats{Loss: met.Loss, Command: s.pending}
	all, err := collective.Exchange(ctx, r.Dist.control(), &mine)
	if err != nil {
		return cmdNone, fmt.Errorf("step %d: exchanging step statistics: %w", s.step, err)
	}
	s.pending = cmdNone
	var cmd command
	met.Loss, cmd = agreeStep(all)
	s.loss = met.Loss
	return cmd, nil
}

// clipOf is the gradient clipping norm (+Inf: none).
func clipOf(cfg Config) float64 {
	if cfg.ClipNorm == 0 {
		return math.Inf(1)
	}
	return cfg.ClipNorm
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
