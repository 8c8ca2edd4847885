package trainer

import (
	"context"
	"errors"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

func trainErr(c Config, dir string, resume, overwrite bool) (Summary, error) {
	return Run{Config: c, Dir: dir, Resume: resume, Overwrite: overwrite, Log: zerolog.Nop()}.Train(context.Background())
}

// relSnapshot is snapshotFiles keyed by the path relative to dir.
func relSnapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for p, v := range snapshotFiles(t, dir) {
		r, _ := filepath.Rel(dir, p)
		out[r] = v
	}
	return out
}

// TestFreshRunRefusesExistingRun: train without --resume over a directory
// holding a run fails, names the directory and both ways out, and changes
// nothing (it used to overwrite the checkpoints and append to metrics).
func TestFreshRunRefusesExistingRun(t *testing.T) {
	dir := t.TempDir()
	c := toyConfig("fd-ssm", 6)
	c.Checkpoint = CheckpointConfig{Every: 3, Keep: 3}
	train(t, c, dir, false)
	if err := os.WriteFile(filepath.Join(dir, MetricsFile), []byte("{\"step\":1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := snapshotFiles(t, dir)
	_, err := trainErr(c, dir, false, false)
	if !errors.Is(err, ErrRunExists) {
		t.Fatalf("fresh run over a run: %v, want ErrRunExists", err)
	}
	for _, want := range []string{dir, "step-00000006", "--resume", "--overwrite"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if after := snapshotFiles(t, dir); !maps.Equal(before, after) {
		t.Fatalf("the refused run changed the directory:\nbefore %v\nafter  %v", before, after)
	}
	// metrics.jsonl alone is a run too (one that never reached a checkpoint).
	only := t.TempDir()
	os.WriteFile(filepath.Join(only, MetricsFile), []byte("{\"step\":1}\n"), 0o644)
	if _, err := trainErr(c, only, false, false); !errors.Is(err, ErrRunExists) {
		t.Fatalf("fresh run over a metrics log: %v", err)
	}
	// Files that are not a run (a control secret, notes) do not block.
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "notes.txt"), []byte("mine"), 0o644)
	if _, err := trainErr(c, other, false, false); err != nil {
		t.Fatalf("fresh run in a directory without a run: %v", err)
	}
}

// TestOverwriteMovesOldRunAside: --overwrite starts over and keeps the old
// run, byte for byte, in a sibling directory.
func TestOverwriteMovesOldRunAside(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	c := toyConfig("fd-ssm", 6)
	train(t, c, dir, false)
	before := relSnapshot(t, dir)
	for round := 0; round < 2; round++ { // twice within a second: distinct names
		if _, err := trainErr(c, dir, false, true); err != nil {
			t.Fatalf("overwrite: %v", err)
		}
	}
	old, _ := filepath.Glob(dir + ".old-*")
	if len(old) != 2 {
		t.Fatalf("old runs %v, want two moved aside", old)
	}
	if got := relSnapshot(t, old[0]); !maps.Equal(got, before) {
		t.Fatalf("the moved run differs from the old one:\nold   %v\nmoved %v", before, got)
	}
	if n := len(listCheckpoints(dir)); n == 0 {
		t.Fatal("the new run wrote no checkpoint")
	}
	moved, err := claimRunDir(filepath.Join(t.TempDir(), "none"), true, time.Now())
	if err != nil || moved != "" {
		t.Fatalf("overwrite of a missing directory: moved %q, %v", moved, err)
	}
}

// TestResumeThatCannotResumeFails: --resume whose config does not fit the
// checkpoints, or whose checkpoints are all unreadable, fails with every
// checkpoint and its reason and touches nothing (it used to start fresh
// and overwrite them). An empty directory still starts fresh.
func TestResumeThatCannotResumeFails(t *testing.T) {
	c := toyConfig("fd-ssm", 6)
	c.Checkpoint = CheckpointConfig{Every: 3, Keep: 3}
	setup := func() string {
		dir := t.TempDir()
		train(t, c, dir, false)
		return dir
	}

	dir := setup()
	before := snapshotFiles(t, dir)
	other := c
	other.Steps = 10
	other.Model = map[string]any{"kind": "mlp", "input_dim": 2, "hidden": []any{32, 32}, "activation": "softplus"}
	_, err := trainErr(other, dir, true, false)
	if !errors.Is(err, ErrCannotResume) {
		t.Fatalf("resume with another model: %v, want ErrCannotResume", err)
	}
	for _, want := range []string{"step-00000006", "step-00000003", "shape"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if after := snapshotFiles(t, dir); !maps.Equal(before, after) {
		t.Fatal("the failed resume changed the run directory")
	}

	dir = setup()
	for _, p := range listCheckpoints(dir) {
		if err := os.WriteFile(filepath.Join(p, "model.safetensors"), []byte("garbage"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before = snapshotFiles(t, dir)
	longer := c
	longer.Steps = 10
	if _, err := trainErr(longer, dir, true, false); !errors.Is(err, ErrCannotResume) {
		t.Fatalf("resume with every checkpoint corrupt: %v, want ErrCannotResume", err)
	}
	if after := snapshotFiles(t, dir); !maps.Equal(before, after) {
		t.Fatal("the failed resume changed the run directory")
	}

	empty := t.TempDir()
	if s, err := trainErr(c, empty, true, false); err != nil || s.Steps != 6 {
		t.Fatalf("resume with nothing to resume: %+v, %v; want a fresh run", s, err)
	}
}

// TestChecksBeforeWriting: a model that does not fit the data is reported
// before the run directory is created.
func TestChecksBeforeWriting(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	c := toyConfig("fd-ssm", 6)
	c.Model = map[string]any{"kind": "mlp", "input_dim": 3, "hidden": []any{8}}
	if _, err := trainErr(c, dir, false, false); err == nil {
		t.Fatal("a 3-input model on 2-D data trained")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the failed run created its directory: %v", err)
	}
}

// poisonCheckpoint writes a NaN into the first parameter of a checkpoint.
func poisonCheckpoint(t *testing.T, ck string, c Config) string {
	t.Helper()
	file := filepath.Join(ck, "model.safetensors")
	m, err := models.LoadCheckpoint(file, tensor.DefaultCPU(), 0)
	if err != nil {
		t.Fatal(err)
	}
	p := m.Params()[0]
	v := p.Value.ToFloat64s()
	v[1] = math.NaN()
	tensor.WriteAs(p.Value, v)
	if err := models.SaveCheckpoint(file, m, nil); err != nil {
		t.Fatal(err)
	}
	return p.Name
}

// TestResumeRefusesNonFiniteCheckpoint: a checkpoint holding NaN is not
// resumed from (it used to run ten NaN steps, then fail without naming
// it): the error names the file and the tensor and nothing changes; with
// ResumeFinite the newest finite checkpoint is used.
func TestResumeRefusesNonFiniteCheckpoint(t *testing.T) {
	dir := t.TempDir()
	c := toyConfig("fd-ssm", 6)
	c.Checkpoint = CheckpointConfig{Every: 3, Keep: 3}
	train(t, c, dir, false)
	newest := listCheckpoints(dir)[0]
	name := poisonCheckpoint(t, newest, c)
	before := snapshotFiles(t, dir)
	longer := c
	longer.Steps = 9
	_, err := trainErr(longer, dir, true, false)
	if !errors.Is(err, ErrCannotResume) || !errors.Is(err, models.ErrNonFinite) {
		t.Fatalf("resume from a NaN checkpoint: %v", err)
	}
	for _, want := range []string{newest, name, "--resume-finite"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if after := snapshotFiles(t, dir); !maps.Equal(before, after) {
		t.Fatal("the refused resume changed the run directory")
	}
	s, err := Run{Config: longer, Dir: dir, Resume: true, ResumeFinite: true, Log: zerolog.Nop()}.Train(context.Background())
	if err != nil || s.Steps != 9 {
		t.Fatalf("resume from the newest finite checkpoint: %+v, %v", s, err)
	}
}
