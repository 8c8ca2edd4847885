package trainer

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/data"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/safetensors"
	"github.com/fdsm-go/fdsm/tensor"
)

// toyConfig is a small MLP energy on a 2-D Gaussian mixture, on the device
// FDSM_TEST_DEVICE names (default the CPU; make test-devsim runs the
// trainer's tests on devsim:0).
func toyConfig(objective string, steps int) Config {
	c := DefaultConfig()
	c.Device = os.Getenv("FDSM_TEST_DEVICE")
	c.Model = map[string]any{"kind": "mlp", "input_dim": 2, "hidden": []any{64, 64}, "activation": "softplus"}
	c.DType = "float64"
	c.Data = DataConfig{Name: "toy:gmm2d-8"}
	c.Objective = ObjectiveConfig{Name: objective, Eps: 0.05, Sigma: 0.1, Projection: "gaussian", Scaling: "paper"}
	c.Optimizer = OptimizerConfig{Kind: "adam", LR: 3e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8}
	c.Schedule = ScheduleConfig{Kind: "cosine"}
	c.Batch, c.Steps, c.ClipNorm, c.Jitter = 128, steps, 0, 0
	c.Checkpoint = CheckpointConfig{Every: 0, Keep: 2}
	c.Samples = SamplesConfig{}
	return c
}

func train(t *testing.T, c Config, dir string, resume bool) Summary {
	t.Helper()
	s, err := Run{Config: c, Dir: dir, Resume: resume, Log: zerolog.Nop()}.Train(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// scoreError is E‖s_θ(x) - ∇log p(x)‖ / E‖∇log p(x)‖ over samples of the
// mixture, s_θ = ∇ₓ log p~_θ. With sigma > 0 the target is the score of the
// σ-noised mixture (what DSM learns): each component's std becomes
// √(s² + σ²).
func scoreError(t *testing.T, m models.Model, sigma float64) float64 {
	dd, err := data.Toy("gmm2d-8")
	if err != nil {
		t.Fatal(err)
	}
	g0 := dd.(*data.GaussianMixture)
	stds := make([]float64, len(g0.Stds))
	for i, s := range g0.Stds {
		stds[i] = math.Sqrt(s*s + sigma*sigma)
	}
	d := &data.GaussianMixture{Label: "noised", Weights: g0.Weights, Means: g0.Means, Stds: stds}
	xs := d.Sample(tensor.NewRNG(99), 2000)
	be := m.Params()[0].Value.Backend()
	x := tensor.FromFloat64s(be, tensor.Float64, tensor.Shape{2000, 2}, xs)
	tp := ad.NewTape(be)
	xv := tp.Leaf(x)
	g := ad.Grad1(ad.Sum(m.(models.Energy).LogDensity(xv)), xv)[0].Value().ToFloat64s()
	var num, den float64
	want := make([]float64, 2)
	for i := 0; i < 2000; i++ {
		d.Score(xs[2*i:2*i+2], want)
		num += math.Hypot(g[2*i]-want[0], g[2*i+1]-want[1])
		den += math.Hypot(want[0], want[1])
	}
	return num / den
}

// TestLearnsMixtureScore: each objective trains an MLP energy whose score
// approaches the mixture's analytic score (for the DSM family, the score of
// the σ = 0.3-noised mixture, which is what DSM estimates). Threshold 0.4
// relative error: an untrained network is at about 1.
func TestLearnsMixtureScore(t *testing.T) {
	if testing.Short() {
		t.Skip("trains four models")
	}
	for _, obj := range []string{"fd-ssm", "ssm", "fd-dsm", "dsm"} {
		c := toyConfig(obj, 2000)
		sigma := 0.0
		if strings.HasSuffix(obj, "dsm") {
			// DSM's target noise (x~-x)/σ² makes its gradients noisier, and
			// FD-DSM's one random direction per sample noisier still.
			sigma = 0.3
			c.Objective.Sigma = sigma
			c.Batch = 512
		}
		s := train(t, c, t.TempDir(), false)
		if e := scoreError(t, s.Model, sigma); e > 0.4 {
			t.Errorf("%s: relative score error %.3f after %d steps", obj, e, s.Steps)
		} else {
			t.Logf("%s: relative score error %.3f", obj, e)
		}
	}
}

func paramsOf(t *testing.T, path string) map[string][]float64 {
	t.Helper()
	f, err := safetensors.ReadFile(filepath.Join(path, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float64{}
	for n, ts := range f.Tensors {
		v, err := ts.Float64s()
		if err != nil {
			t.Fatal(err)
		}
		out[n] = v
	}
	return out
}

// sameParams fails t unless the checkpoints full (uninterrupted) and
// resumed hold bitwise the same parameters.
func sameParams(t *testing.T, full, resumed string) {
	t.Helper()
	pa, pb := paramsOf(t, full), paramsOf(t, resumed)
	for n, va := range pa {
		for i := range va {
			if va[i] != pb[n][i] {
				t.Fatalf("%s[%d]: %v uninterrupted, %v resumed", n, i, va[i], pb[n][i])
			}
		}
	}
}

// stopAt runs c until step stop, then interrupts it as Ctrl-C would (the
// run writes a checkpoint and returns the context's error).
func stopAt(t *testing.T, c Config, dir string, stop int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := Run{Config: c, Dir: dir, Log: zerolog.Nop(), OnStep: func(m StepMetrics) {
		if m.Step == stop {
			cancel()
		}
	}}.Train(ctx)
	if err != context.Canceled {
		t.Fatalf("interrupted run: %v", err)
	}
}

// TestResumeIsExact: a run stopped at step 25 and resumed ends with the same
// parameters, bitwise, as an uninterrupted 60-step run (optimizer state,
// sampler position, RNG and schedule all restored).
func TestResumeIsExact(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	c := toyConfig("fd-ssm", 60)
	c.Batch = 100 // 10,000 samples: 100 batches an epoch
	full := train(t, c, a, false)
	stopAt(t, c, b, 25)
	resumed := train(t, c, b, true)
	sameParams(t, full.Checkpoint, resumed.Checkpoint)
	if full.LastLoss != resumed.LastLoss {
		t.Errorf("last loss %v vs %v", full.LastLoss, resumed.LastLoss)
	}
}

// TestResumeAcrossEpochs covers a stop in one epoch and a resume in the next.
func TestResumeAcrossEpochs(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	c := toyConfig("fd-ssm", 30)
	c.Batch, c.Data.Limit = 64, 640 // 10 batches an epoch
	full := train(t, c, a, false)
	stopAt(t, c, b, 15)
	resumed := train(t, c, b, true)
	if full.LastLoss != resumed.LastLoss {
		t.Errorf("last loss %v uninterrupted, %v resumed", full.LastLoss, resumed.LastLoss)
	}
}

// TestResumeFinishedRunTouchesNothing: --resume on a complete run reports
// it complete and leaves every checkpoint file as it was (it used to rewrite
// the last checkpoint and report a final loss of 0).
func TestResumeFinishedRunTouchesNothing(t *testing.T) {
	dir := t.TempDir()
	c := toyConfig("fd-ssm", 10)
	c.Checkpoint.Every = 5
	full := train(t, c, dir, false)
	before := snapshotFiles(t, dir)
	again := train(t, c, dir, true)
	if !again.AlreadyComplete || again.Steps != 10 || again.Checkpoint != full.Checkpoint || again.Model != nil {
		t.Fatalf("resume of a finished run: %+v; want AlreadyComplete at step 10, checkpoint %s, no model", again, full.Checkpoint)
	}
	if after := snapshotFiles(t, dir); !maps.Equal(before, after) {
		t.Fatalf("resume of a finished run changed the run directory:\nbefore %v\nafter  %v", before, after)
	}
	// More steps asked for: the run continues from step 10.
	c.Steps = 12
	more := train(t, c, dir, true)
	if more.AlreadyComplete || more.Steps != 12 {
		t.Fatalf("resume with more steps: %+v; want 12 steps trained", more)
	}
}

// snapshotFiles maps every file under dir to its size, mode time and a
// hash of its bytes.
func snapshotFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		st, err := e.Info()
		if err != nil {
			return err
		}
		out[p] = fmt.Sprintf("%x %d %s", sha256.Sum256(b), st.Size(), st.ModTime())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestInterruptedCheckpointSurvivesRotation: a run interrupted at step 3 in
// a directory that still holds higher-numbered checkpoints of an older run
// keeps the checkpoint it reports (rotation by name used to delete it at
// once).
func TestInterruptedCheckpointSurvivesRotation(t *testing.T) {
	dir := t.TempDir()
	c := toyConfig("fd-ssm", 20)
	c.Checkpoint = CheckpointConfig{Every: 5, Keep: 2}
	old := t.TempDir()
	train(t, c, old, false) // leaves step-15 and step-20
	// A run whose directory holds older, higher-numbered checkpoints (a
	// restarted data-parallel rank 0, files copied in): they appear after it
	// started, as a fresh run refuses a directory that holds a run.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sum, err := Run{Config: c, Dir: dir, Log: zerolog.Nop(), OnStep: func(m StepMetrics) {
		if m.Step == 1 {
			if err := os.CopyFS(checkpointRoot(dir), os.DirFS(checkpointRoot(old))); err != nil {
				t.Error(err)
			}
		}
		if m.Step == 3 {
			cancel()
		}
	}}.Train(ctx)
	if err != context.Canceled {
		t.Fatalf("interrupted run: %v", err)
	}
	if sum.Steps != 3 || filepath.Base(sum.Checkpoint) != checkpointName(3) {
		t.Fatalf("summary %+v: want step 3 and its checkpoint", sum)
	}
	if _, err := os.Stat(filepath.Join(sum.Checkpoint, "model.safetensors")); err != nil {
		t.Fatalf("the reported checkpoint is gone: %v", err)
	}
	if n := len(listCheckpoints(dir)); n != 2 {
		t.Fatalf("%d checkpoints kept, want keep = 2", n)
	}
}

// TestCorruptLatestCheckpointFallsBack: a damaged newest checkpoint is
// reported and the previous one is used; a crash between writing and
// renaming leaves only a temporary directory, which is ignored.
func TestCorruptLatestCheckpointFallsBack(t *testing.T) {
	dir := t.TempDir()
	c := toyConfig("fd-ssm", 20)
	c.Checkpoint = CheckpointConfig{Every: 10, Keep: 3}
	train(t, c, dir, false)
	list := listCheckpoints(dir)
	if len(list) != 2 {
		t.Fatalf("checkpoints %v", list)
	}
	if err := os.WriteFile(filepath.Join(list[0], "model.safetensors"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A crash mid-write leaves a temporary directory behind.
	if err := os.MkdirAll(filepath.Join(checkpointRoot(dir), ".tmp-step-00000030-123"), 0o755); err != nil {
		t.Fatal(err)
	}
	var warned []string
	m, _ := models.Build(c.ModelSpec(), tensor.DefaultCPU(), tensor.Float64, 1)
	opt, _ := NewOptimizer("adam", OptimizerOptions{})
	path, st, err := restoreLatest(dir, m, opt, false, func(p string, err error) { warned = append(warned, p) })
	if err != nil || path != list[1] || st.Step != 10 || len(warned) != 1 {
		t.Fatalf("restored %q step %d, warned %v, err %v", path, st.Step, warned, err)
	}
}

// TestBadStepsAreSkippedThenStop: a learning rate that blows the model up
// gives NaN losses; they are skipped and counted, and too many in a row stop
// the run with a clear error; no NaN is written to a checkpoint.
func TestBadStepsAreSkippedThenStop(t *testing.T) {
	dir := t.TempDir()
	c := toyConfig("fd-ssm", 200)
	c.Optimizer.Kind, c.Optimizer.LR = "sgd", 1e6
	c.BadSteps = BadStepConfig{MaxLoss: 1e8, After: 0, MaxConsecutive: 3}
	c.Checkpoint.Every = 1
	_, err := Run{Config: c, Dir: dir, Log: zerolog.Nop()}.Train(context.Background())
	if err == nil || !strings.Contains(err.Error(), "consecutive bad steps") {
		t.Fatalf("err = %v", err)
	}
	for _, p := range listCheckpoints(dir) {
		for n, v := range paramsOf(t, p) {
			for _, x := range v {
				if math.IsNaN(x) || math.IsInf(x, 0) {
					t.Fatalf("%s holds non-finite %s", p, n)
				}
			}
		}
	}
}

func TestConfigValidation(t *testing.T) {
	c := DefaultConfig()
	c.Optimizer.LR, c.Batch, c.Objective.Eps = 0, 0, -1
	c.Objective.Name = "nope"
	c.Data.Holdout = 1
	err := c.Validate()
	for _, want := range []string{"optimizer.lr", "batch", "eps", "unknown objective", "data.holdout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	c = DefaultConfig()
	if err := c.Set("optimizer.lr=2e-4"); err != nil || c.Optimizer.LR != 2e-4 {
		t.Errorf("set lr: %v %v", err, c.Optimizer.LR)
	}
	if err := c.Set("model.hidden=[32, 32]"); err != nil || fmt.Sprint(c.Model["hidden"]) != "[32 32]" || c.Model["kind"] != "mlp-score" || c.Model["pca"] != 40 {
		t.Errorf("set model option: %v %v", err, c.Model)
	}
	// Another kind drops the main job's options, which it would not know.
	if err := c.Set("model.kind=mlp"); err != nil || fmt.Sprint(c.Model) != "map[kind:mlp]" {
		t.Errorf("set model kind: %v %v", err, c.Model)
	}
	if err := c.Set("model.hidden=[8]"); err != nil || c.Validate() != nil {
		t.Errorf("an mlp from --set: %v %v %v", err, c.Model, c.Validate())
	}
	if err := c.Set("optimiser.lr=1"); err == nil {
		t.Error("unknown key accepted")
	}
	c = toyConfig("fd-ssm", 10)
	c.Data.Name = "toy:nope"
	if _, err := (Run{Config: c, Dir: t.TempDir(), Log: zerolog.Nop()}).Train(context.Background()); err == nil || !strings.Contains(err.Error(), "gmm2d-8") {
		t.Errorf("unknown dataset: %v", err)
	}
	c = toyConfig("fd-ssm", 10)
	if _, err := (Run{Config: c, Dir: "/proc/no-such/dir", Log: zerolog.Nop()}).Train(context.Background()); err == nil || !strings.Contains(err.Error(), "output directory") {
		t.Errorf("unwritable output: %v", err)
	}
}

// TestReproducible: the same config and seed give bitwise-identical
// parameters.
func TestReproducible(t *testing.T) {
	c := toyConfig("fd-dsm", 30)
	a, b := train(t, c, t.TempDir(), false), train(t, c, t.TempDir(), false)
	pa, pb := paramsOf(t, a.Checkpoint), paramsOf(t, b.Checkpoint)
	for n, va := range pa {
		for i := range va {
			if va[i] != pb[n][i] {
				t.Fatalf("%s[%d]: %v vs %v", n, i, va[i], pb[n][i])
			}
		}
	}
}

// TestDKEFTrains: DKEF's two-half step (α fitted on one half, the loss on
// the other, gradients through the solve) improves its score on a 2-D
// mixture, and the fitted α is kept for evaluation and checkpoints.
func TestDKEFTrains(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a DKEF")
	}
	c := toyConfig("fd-ssm", 300)
	c.Model = map[string]any{"kind": "dkef", "input_dim": 2, "num_inducing": 40, "feature_dim": 8}
	c.Batch = 200
	c.Optimizer.LR = 1e-2
	dir := t.TempDir()
	s := train(t, c, dir, false)
	dk := s.Model.(*models.DKEF)
	nonzero := false
	for _, v := range dk.Alpha().ToFloat64s() {
		nonzero = nonzero || v != 0
	}
	if !nonzero {
		t.Fatal("alpha was never stored")
	}
	e := scoreError(t, dk, 0)
	c.Steps = 1
	e0 := scoreError(t, train(t, c, t.TempDir(), false).Model, 0)
	t.Logf("dkef: relative score error %.3f after one step, %.3f after %d", e0, e, s.Steps)
	if e > 0.6 || e > e0/1.5 {
		t.Errorf("dkef relative score error %.3f after %d steps", e, s.Steps)
	}
}

// TestAccumulationMatchesLargeBatch: two micro-batches of 32 accumulated
// give the step one batch of 64 gives (a deterministic objective, exact SM,
// so only float64 rounding differs: 1e-12 relative).
func TestAccumulationMatchesLargeBatch(t *testing.T) {
	c := toyConfig("sm", 3)
	c.Batch, c.Accumulate = 64, 1
	big := train(t, c, t.TempDir(), false)
	c.Batch, c.Accumulate = 32, 2
	acc := train(t, c, t.TempDir(), false)
	pa, pb := paramsOf(t, big.Checkpoint), paramsOf(t, acc.Checkpoint)
	for n, va := range pa {
		for i := range va {
			if math.Abs(va[i]-pb[n][i]) > 1e-12*math.Max(1, math.Abs(va[i])) {
				t.Fatalf("%s[%d]: %v with one batch, %v accumulated", n, i, va[i], pb[n][i])
			}
		}
	}
}

// TestTrainOnlyAndInitFrom: a second stage starts from the first stage's
// checkpoint and updates only the named parameter (DKEF's log_lambda).
func TestTrainOnlyAndInitFrom(t *testing.T) {
	c := toyConfig("fd-ssm", 5)
	c.Model = map[string]any{"kind": "dkef", "input_dim": 2, "num_inducing": 10, "feature_dim": 4}
	c.Batch = 40
	stage1 := t.TempDir()
	s1 := train(t, c, stage1, false)
	c.InitFrom, c.TrainOnly = stage1, []string{"log_lambda"}
	s2 := train(t, c, t.TempDir(), false)
	p1, p2 := paramsOf(t, s1.Checkpoint), paramsOf(t, s2.Checkpoint)
	for n, v := range p1 {
		same := true
		for i := range v {
			same = same && v[i] == p2[n][i]
		}
		if n == "log_lambda" && same {
			t.Error("log_lambda did not change in stage 2")
		}
		if n != "log_lambda" && n != "alpha" && !same {
			t.Errorf("%s changed in stage 2", n)
		}
	}
	c.TrainOnly = []string{"nope"}
	if _, err := (Run{Config: c, Dir: t.TempDir(), Log: zerolog.Nop()}).Train(context.Background()); err == nil || !strings.Contains(err.Error(), "log_lambda") {
		t.Errorf("unknown train_only: %v", err)
	}
}

// TestEarlyStopping: with a learning rate too small to change anything the
// validation loss (fixed randomness) never improves after the first
// evaluation, so patience 2 stops the run at the third evaluation and the
// best parameters are kept in best/.
func TestEarlyStopping(t *testing.T) {
	c := toyConfig("fd-ssm", 100)
	c.Optimizer.LR = 1e-300
	c.Validation = ValidationConfig{Data: "toy:gmm2d-8", Every: 5, Batches: 2, Patience: 2}
	dir := t.TempDir()
	s := train(t, c, dir, false)
	if !s.Stopped || s.Steps != 15 {
		t.Fatalf("stopped %v after %d steps, want early stop at 15", s.Stopped, s.Steps)
	}
	if _, err := os.Stat(filepath.Join(dir, "best", "model.safetensors")); err != nil {
		t.Fatalf("no best checkpoint: %v", err)
	}
}

// TestEarlyStoppingSurvivesResume: the early-stopping counters are part of
// the checkpoint, so an interrupted run stops at the same step.
func TestEarlyStoppingSurvivesResume(t *testing.T) {
	c := toyConfig("fd-ssm", 100)
	c.Optimizer.LR = 1e-300
	c.Validation = ValidationConfig{Data: "toy:gmm2d-8", Every: 5, Batches: 2, Patience: 2}
	dir := t.TempDir()
	stopAt(t, c, dir, 12)
	if s := train(t, c, dir, true); !s.Stopped || s.Steps != 15 {
		t.Fatalf("resumed run stopped %v at %d, want 15", s.Stopped, s.Steps)
	}
}

// TestValidationUsesTrainingTransforms: validation samples go through the
// training transforms (MNIST 28x28 padded to the model's 32x32).
func TestValidationUsesTrainingTransforms(t *testing.T) {
	c, err := LoadConfig("../configs/small-ebm-mnist-fdssm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.Steps, c.Samples.N, c.Data.Limit, c.Schedule.Warmup = 2, 0, 256, 0
	c.Validation = ValidationConfig{Data: "mnist-test", Every: 1, Batches: 1}
	_, err = Run{Config: c, Dir: t.TempDir(), Log: zerolog.Nop()}.Train(context.Background())
	if err != nil && strings.Contains(err.Error(), "GoMNIST") {
		t.Skip("MNIST not available:", err)
	}
	if err != nil {
		t.Fatal(err)
	}
}
