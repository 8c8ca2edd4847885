package trainer

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/fdsm-go/fdsm/data"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/safetensors"
	"github.com/fdsm-go/fdsm/tensor"
)

// A checkpoint is a directory checkpoints/step-NNNNNNNN holding
// model.safetensors (the model, loadable on its own and by PyTorch),
// optimizer.safetensors (the optimizer's state) and state.json (step,
// sampler position, RNG state, counters and the config). It is written into
// a temporary directory, every file fsynced, then renamed into place, so a
// crash leaves either the old set or the new one, never half of one.

// trainState is state.json.
type trainState struct {
	Step        int    `json:"step"`
	Epoch       int    `json:"epoch"`
	Position    int    `json:"position"`
	Offset      int    `json:"offset,omitempty"` // sampler reshard offset (data.SamplerState)
	RNG         string `json:"rng"`              // base64 of tensor.RNG.MarshalBinary
	Skipped     int    `json:"skipped"`
	Consecutive int    `json:"consecutive_skips"`
	// Early-stopping state: best validation loss (nil before the first
	// evaluation: JSON has no infinity) and evaluations without improvement.
	ValBest *float64 `json:"val_best,omitempty"`
	ValBad  int      `json:"val_bad"`
	Config  Config   `json:"config"`
	// Data-parallel runs: the world size and every rank's sampler state
	// (ranks advance in lockstep; a different world resumes by resharding).
	World int         `json:"world,omitempty"`
	Ranks []rankState `json:"ranks,omitempty"`
	// Shards is the position in an epoch of tar shards (data.shards): the
	// world's, merged from every rank's; the fields above then say only
	// the epoch. ShardRanks replaces it when data-parallel ranks stopped in
	// different epochs of their shards: rank r's own position, which only
	// a world of the same size resumes.
	Shards     *data.ShardState  `json:"shards,omitempty"`
	ShardRanks []data.ShardState `json:"shard_ranks,omitempty"`
}

func checkpointRoot(dir string) string { return filepath.Join(dir, "checkpoints") }

func checkpointName(step int) string { return fmt.Sprintf("step-%08d", step) }

// saveCheckpoint writes a checkpoint atomically and prunes old ones. It
// refuses to write non-finite parameters.
func saveCheckpoint(dir string, m models.Model, opt Optimizer, st trainState, keep int) (string, error) {
	for _, p := range m.Params() {
		if p.Value.HasNonFinite() {
			return "", fmt.Errorf("checkpoint at step %d: parameter %s holds NaN or Inf; not written", st.Step, p.Name)
		}
	}
	root := checkpointRoot(dir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	final := filepath.Join(root, checkpointName(st.Step))
	tmp, err := os.MkdirTemp(root, ".tmp-"+checkpointName(st.Step)+"-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp) // no-op after the rename
	if err := writeCheckpointFiles(tmp, m, opt, st); err != nil {
		return "", err
	}
	os.RemoveAll(final) // a checkpoint of the same step from an earlier attempt
	if err := os.Rename(tmp, final); err != nil {
		return "", err
	}
	syncDir(root)
	prune(root, keep, final)
	return final, nil
}

// writeCheckpointFiles writes a checkpoint's three files into dir.
func writeCheckpointFiles(dir string, m models.Model, opt Optimizer, st trainState) error {
	if err := models.SaveCheckpoint(filepath.Join(dir, "model.safetensors"), m, map[string]string{"fdsm.step": fmt.Sprint(st.Step)}); err != nil {
		return err
	}
	var ts []safetensors.Tensor
	state := opt.State()
	names := make([]string, 0, len(state))
	for n := range state {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t := state[n]
		ts = append(ts, safetensors.FromFloat64s(n, t.Shape(), t.ToFloat64s()))
	}
	if err := safetensors.WriteFile(filepath.Join(dir, "optimizer.safetensors"), ts, map[string]string{"fdsm.optimizer": st.Config.Optimizer.Kind}); err != nil {
		return err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeSynced(filepath.Join(dir, "state.json"), b)
}

func writeSynced(path string, b []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// listCheckpoints returns the checkpoint directories, newest first.
func listCheckpoints(dir string) []string {
	ents, err := os.ReadDir(checkpointRoot(dir))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), "step-") {
			out = append(out, filepath.Join(checkpointRoot(dir), e.Name()))
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out
}

// prune keeps the keep newest checkpoints, and always the one just written
// (a run restarted over older, higher-numbered checkpoints must not delete
// the checkpoint it has just promised in its log).
func prune(root string, keep int, written string) {
	kept := 1 // written
	for _, p := range listCheckpoints(filepath.Dir(root)) {
		if p == written {
			continue
		}
		if kept < keep {
			kept++
			continue
		}
		os.RemoveAll(p)
	}
}

// loadCheckpoint restores model parameters, optimizer state and train
// state from one checkpoint directory.
func loadCheckpoint(path string, m models.Model, opt Optimizer) (trainState, error) {
	var st trainState
	b, err := os.ReadFile(filepath.Join(path, "state.json"))
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("%s: state.json: %w", path, err)
	}
	if err := models.LoadParams(filepath.Join(path, "model.safetensors"), m); err != nil {
		return st, err
	}
	f, err := safetensors.ReadFile(filepath.Join(path, "optimizer.safetensors"))
	if err != nil {
		return st, err
	}
	state := map[string]*tensor.Tensor{}
	be := m.Params()[0].Value.Backend()
	for name, t := range f.Tensors {
		v, err := t.Float64s()
		if err != nil {
			return st, fmt.Errorf("%s: optimizer tensor %s: %w", path, name, err)
		}
		if err := models.CheckFinite(name, v); err != nil {
			return st, fmt.Errorf("%s: optimizer state: %w", filepath.Join(path, "optimizer.safetensors"), err)
		}
		x := be.Empty(m.DType(), t.Shape...)
		tensor.WriteAs(x, v)
		state[name] = x
	}
	if err := opt.LoadState(state, m.Params()); err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := base64.StdEncoding.DecodeString(st.RNG); err != nil {
		return st, fmt.Errorf("%s: rng state: %w", path, err)
	}
	return st, nil
}

// restoreLatest loads the newest readable checkpoint, reporting and skipping
// unreadable ones (and, with skipNonFinite, those holding NaN or Inf; else
// such a checkpoint is an error); it returns "" when there is none, and
// ErrCannotResume, naming each checkpoint and why, when there are some and
// none loads.
func restoreLatest(dir string, m models.Model, opt Optimizer, skipNonFinite bool, warn func(path string, err error)) (string, trainState, error) {
	tried := listCheckpoints(dir)
	var errs []error
	for _, p := range tried {
		st, err := loadCheckpoint(p, m, opt)
		if err == nil {
			return p, st, nil
		}
		if errors.Is(err, models.ErrNonFinite) && !skipNonFinite {
			// A run that diverged: an earlier checkpoint would repeat it
			// unless the user changes something, so going back is theirs
			// to ask for.
			return "", trainState{}, fmt.Errorf("%w: %w\n(resume from the newest checkpoint whose values are finite with --resume-finite)", ErrCannotResume, err)
		}
		warn(p, err)
		errs = append(errs, err)
	}
	if len(tried) > 0 {
		// Starting fresh here would overwrite the checkpoints it could
		// not read.
		return "", trainState{}, resumeFailure(dir, tried, errs)
	}
	return "", trainState{}, nil
}

func encodeRNG(r *tensor.RNG) string {
	b, _ := r.MarshalBinary()
	return base64.StdEncoding.EncodeToString(b)
}

func decodeRNG(s string, r *tensor.RNG) error {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return r.UnmarshalBinary(b)
}
