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
	"github.com/fdsm-go/fdsm/collective"
	"github.com/fdsm-go/fdsm/data"
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
	// Data parallel: rank 0's command waiting for the next logging step,
	// and the last loss agreed there.
	pending command
	loss    float64
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
	msg := validationLoss{Loss: loss}
	if err := collective.BroadcastMessage(ctx, d.control(), 0, &msg); err != nil {
		return 0, err
	}
	return msg.Loss, nil
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
