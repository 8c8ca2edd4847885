// Package trainer trains any model with any objective on any dataset on one
// node: the loop, optimizers and schedules, bad-step handling, atomic
// checkpoints with exact resumption, evaluation, sampling and metrics.
package trainer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/fdsm-go/fdsm/data"
	"github.com/fdsm-go/fdsm/device"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/objective"
	"github.com/fdsm-go/fdsm/tensor"
)

// Config is a training run. Every field can be set from YAML and overridden
// with --set key=value (dotted keys, e.g. optimizer.lr=1e-4).
type Config struct {
	Model map[string]any `json:"model"` // a model spec: kind plus options
	DType string         `json:"dtype"`
	// Device is the backend to train on (package device: "cpu", the
	// default, or "devsim:N"); --device overrides it.
	Device    string          `json:"device"`
	Data      DataConfig      `json:"data"`
	Objective ObjectiveConfig `json:"objective"`
	Optimizer OptimizerConfig `json:"optimizer"`
	Schedule  ScheduleConfig  `json:"schedule"`
	Batch     int             `json:"batch"`
	Steps     int             `json:"steps"`
	// Accumulate sums gradients over this many micro-batches per step.
	Accumulate int     `json:"accumulate"`
	ClipNorm   float64 `json:"clip_norm"` // 0: no clipping
	Seed       uint64  `json:"seed"`
	// Jitter adds N(0, jitter²) to every batch (the reference does this, with
	// 0.005, before SSM-family steps).
	Jitter float64 `json:"jitter"`
	// InitFrom starts a fresh run from the parameters of another run's
	// newest checkpoint (a run or checkpoint directory, or a model file).
	InitFrom string `json:"init_from"`
	// TrainOnly restricts the update to the named parameters (for example
	// DKEF's second stage, which tunes log_lambda alone); empty: all.
	TrainOnly  []string         `json:"train_only"`
	BadSteps   BadStepConfig    `json:"bad_steps"`
	Checkpoint CheckpointConfig `json:"checkpoint"`
	// LogEvery: the step's loss, gradient norm and skip counters are read
	// from the backend (a host synchronisation), logged and written to
	// metrics.jsonl every LogEvery steps and at the last (0 or 1: every
	// step). Between reads a step only enqueues work; bad steps are still
	// skipped at once, and a run with bad_steps.max_consecutive bad steps
	// in a row stops at the next read.
	LogEvery   int              `json:"log_every"`
	Samples    SamplesConfig    `json:"samples"`
	Validation ValidationConfig `json:"validation"`
	DDP        DDPConfig        `json:"ddp"`
	Parallel   ParallelConfig   `json:"parallel"`
	// TF32 lets float32 GEMMs on a CUDA device round their operands to
	// TF32 on tensor cores (much faster, about three decimal digits per
	// product); off by default, as in PyTorch.
	TF32 bool `json:"tf32"`
}

// ParallelConfig spreads a step's work over devices inside one process.
type ParallelConfig struct {
	// FDDevices runs an FD objective's evaluations (x, x+v, x-v, ...) on a
	// group of this many devices: the configured device and the ones of
	// its kind after it (package device, Group), each with a replica of
	// the model; 0 or 1: one device.
	FDDevices int `json:"fd_devices"`
}

// DDPConfig tunes data-parallel training (used when the run is a member of
// a job started by `fdsm launch`; Batch is then per rank).
type DDPConfig struct {
	// Gradient bucket sizes in MiB (0: 25, and 1 for the first bucket).
	BucketMB      float64 `json:"bucket_mb"`
	FirstBucketMB float64 `json:"first_bucket_mb"`
	// HashEvery compares a parameter hash across ranks every so many steps
	// (0: 100; negative: never).
	HashEvery int `json:"hash_every"`
}

// Distributed returns the data-parallel settings DDPConfig describes.
func (c DDPConfig) Distributed() Distributed {
	return Distributed{BucketBytes: int(c.BucketMB * (1 << 20)), FirstBucketBytes: int(c.FirstBucketMB * (1 << 20)), HashEvery: c.HashEvery}
}

// DataConfig names the dataset and its transforms.
type DataConfig struct {
	Name       string   `json:"name"`       // a data.Open name or path
	Dir        string   `json:"dir"`        // data.OpenOptions.DataDir
	Transforms []string `json:"transforms"` // data.ParseTransforms specs
	Limit      int      `json:"limit"`      // use only the first Limit samples (0: all)
	// Holdout keeps the last fraction of the samples out of training (the
	// reference's 90/10 train/validation split of NICE is holdout 0.1).
	Holdout float64 `json:"holdout"`
	// Shards streams tar shards (WebDataset layout, `fdsm data shard`;
	// docs/data.md) instead of an indexed dataset: a directory of .tar
	// files or a glob. It replaces name; the keys below apply to it.
	Shards    string `json:"shards"`
	ImageSize int    `json:"image_size"` // side of the square images (default 32)
	Channels  int    `json:"channels"`   // 3 (RGB, default) or 1 (luma)
	Decoder   string `json:"decoder"`    // JPEG decoder: go, libjpeg-turbo or "" (the best this binary has)
	// ShuffleBuffer is the records per in-memory shuffle block (default 1000).
	ShuffleBuffer int `json:"shuffle_buffer"`
	// MaxBad is how many bad records (corrupt image, truncated shard...)
	// an epoch may skip, each logged, before the run fails; default 0:
	// none; -1: no limit.
	MaxBad int `json:"max_bad"`
}

// ObjectiveConfig selects the objective and its options.
type ObjectiveConfig struct {
	Name       string  `json:"name"`
	Eps        float64 `json:"eps"`
	Sigma      float64 `json:"sigma"`
	Projection string  `json:"projection"`
	Scaling    string  `json:"scaling"`
	Sequential bool    `json:"sequential"`
	// Multiscale DSM (mdsm, fd-mdsm): the noise range σ_b = linspace(
	// SigmaMin, SigmaMax, batch) and the target scale s0 (0: the
	// reference's 0.05, 1.2 and 0.1).
	SigmaMin float64 `json:"sigma_min"`
	SigmaMax float64 `json:"sigma_max"`
	S0       float64 `json:"s0"`
	// SigmaSpacing: "linear" (the reference's linspace) or "geometric".
	SigmaSpacing string `json:"sigma_spacing"`
}

// OptimizerConfig selects the optimizer.
type OptimizerConfig struct {
	Kind        string  `json:"kind"` // adam, adamw or sgd
	LR          float64 `json:"lr"`
	Beta1       float64 `json:"beta1"`
	Beta2       float64 `json:"beta2"`
	Eps         float64 `json:"eps"`
	WeightDecay float64 `json:"weight_decay"`
	Momentum    float64 `json:"momentum"`
}

// ScheduleConfig selects the learning-rate schedule.
type ScheduleConfig struct {
	Kind   string  `json:"kind"` // constant, cosine or linear
	Warmup int     `json:"warmup"`
	MinLR  float64 `json:"min_lr"`
}

// BadStepConfig decides when a step is skipped: a NaN/Inf loss or gradient
// norm always, a loss above MaxLoss after After steps; MaxConsecutive skips
// in a row stop the run.
type BadStepConfig struct {
	MaxLoss        float64 `json:"max_loss"`
	After          int     `json:"after"`
	MaxConsecutive int     `json:"max_consecutive"`
}

// CheckpointConfig: a checkpoint every Every steps and at the end; the last
// Keep are kept.
type CheckpointConfig struct {
	Every int `json:"every"`
	Keep  int `json:"keep"`
}

// DefaultConfig is the main job, sized to finish on two CPU cores in about
// five minutes and to draw digits a person (and an independent classifier,
// package digitcheck) recognises: a noise-conditional MLP score network
// (NCSN's setting with an MLP) on the 40 leading principal components of
// MNIST, trained by annealed DSM over 20 noise levels and sampled by NCSN's
// annealed Langevin dynamics with Tweedie's final step. Why this model
// rather than the paper's energies: docs/benchmarks.md, "The main job";
// those are one config away (configs/mnist-mlp-mdsm.yaml, the previous main
// job; configs/ebm-mnist-fddsm.yaml, the paper's ResNet EBM with FD-DSM).
func DefaultConfig() Config {
	return Config{
		Model: map[string]any{"kind": "mlp-score", "input_dim": 784, "pca": 40, "hidden": []any{1024, 1024},
			"activation": "swish", "num_levels": 20, "sigma_begin": 10, "sigma_end": 0.1},
		DType:      "float32",
		Data:       DataConfig{Name: "mnist"},
		Objective:  ObjectiveConfig{Name: "dsm", Eps: 0.05, Sigma: 0.1, Projection: "sphere", Scaling: "paper"},
		Optimizer:  OptimizerConfig{Kind: "adam", LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
		Schedule:   ScheduleConfig{Kind: "cosine", Warmup: 50},
		Batch:      128,
		Steps:      10000,
		Accumulate: 1,
		ClipNorm:   1,
		Seed:       1,
		BadSteps:   BadStepConfig{MaxLoss: 1e8, After: 100, MaxConsecutive: 10},
		Checkpoint: CheckpointConfig{Every: 2000, Keep: 3},
		Samples:    DefaultSamples(),
	}
}

// DefaultSamples is the main job's sampler: 64 samples by NCSN's annealed
// Langevin dynamics, 100 steps at each of the score network's 20 levels with
// step 1e-3·(σ_i/σ_L)², then Tweedie's step x + σ_L²·s(x, σ_L), which also
// puts the samples in the network's PCA subspace. The numbers were chosen
// with the classifier of package digitcheck (docs/benchmarks.md, "The main
// job").
func DefaultSamples() SamplesConfig {
	return SamplesConfig{N: 64, Scale: 1, StepsPerLevel: 100, Eps: 1e-3, Denoise: 1}
}

// LoadConfig reads a YAML (or JSON) config over the defaults; an empty path
// gives the defaults. Unknown keys are errors.
func LoadConfig(path string) (Config, error) {
	c := DefaultConfig()
	if path == "" {
		return c, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	m, err := parseConfigYAML(b)
	if err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	if err := c.merge(m); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// merge overlays the keys of m (a decoded YAML/JSON object) onto c. The
// model spec is replaced as a whole when m names a model kind, and the data
// section when m names a dataset (the default's transforms belong to MNIST).
// Unknown keys and values of the wrong type are errors naming the key, the
// value and what the key takes (checkSection).
func (c *Config) merge(m map[string]any) error {
	if p := checkSection("", m, reflect.TypeFor[Config]()); len(p) > 0 {
		return p
	}
	if mm, ok := m["model"].(map[string]any); ok {
		if _, hasKind := mm["kind"]; hasKind {
			c.Model = nil
		}
	}
	if dm, ok := m["data"].(map[string]any); ok {
		_, hasName := dm["name"]
		if _, hasShards := dm["shards"]; hasName || hasShards {
			c.Data = DataConfig{}
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("bad config: %v", err) // checkSection should have caught it
	}
	return nil
}

// Set applies one override "a.b.c=value"; value is parsed as YAML (numbers,
// booleans, lists, strings), except that a string field takes the text as
// it is (data.name=123 names a dataset "123").
func (c *Config) Set(kv string) error {
	key, val, ok := strings.Cut(kv, "=")
	if !ok || key == "" {
		return fmt.Errorf("--set %q: want key=value", kv)
	}
	parts := strings.Split(key, ".")
	v := parseSetValue(val, fieldType(reflect.TypeFor[Config](), parts))
	m := map[string]any{}
	cur := m
	for _, p := range parts[:len(parts)-1] {
		next := map[string]any{}
		cur[p] = next
		cur = next
	}
	cur[parts[len(parts)-1]] = v
	if parts[0] == "model" && len(parts) > 1 {
		// Overlay one model option without dropping the others; a new
		// kind starts from its own defaults (the old kind's options would
		// be unknown to it).
		merged := map[string]any{}
		if key != "model.kind" || v == c.Model["kind"] {
			for k, x := range c.Model {
				merged[k] = x
			}
		}
		for k, x := range m["model"].(map[string]any) {
			merged[k] = x
		}
		c.Model = merged
		return nil
	}
	if err := c.merge(m); err != nil {
		var p configProblems
		if errors.As(err, &p) && len(p) == 1 {
			return fmt.Errorf("--set %w", err) // it starts with the key
		}
		return fmt.Errorf("--set %s: %w", kv, err)
	}
	return nil
}

// parseSetValue decodes the value of a --set for a field of type t (nil
// when the key names no field; merge then reports it).
func parseSetValue(val string, t reflect.Type) any {
	var v any
	if err := yaml.Unmarshal([]byte(val), &v); err != nil {
		v = val
	}
	if t != nil && t.Kind() == reflect.String {
		if _, ok := v.(string); !ok {
			return val
		}
		return v
	}
	if s, ok := v.(string); ok {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			v = f
		}
	}
	return v
}

// DataDirHint tells a user of a config how to give the data directory, for
// data.OpenOptions.DirHint (fdsm train has no --data-dir flag).
const DataDirHint = "--set data.dir=DIR (or data: {dir: DIR} in the config)"

// Validate reports every invalid value before anything is built.
func (c Config) Validate() error {
	var errs []string
	bad := func(f string, a ...any) { errs = append(errs, fmt.Sprintf(f, a...)) }
	// Each group reports all its problems; their order is the messages' order.
	c.validateSetup(bad)
	c.validateParallel(bad)
	c.validateData(bad)
	c.validateOptimization(bad)
	c.validateSizes(bad)
	c.validateObjectiveScales(bad)
	c.validateSupervision(bad)
	if len(errs) > 0 {
		return fmt.Errorf("invalid config:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}

// validateSetup checks the dtype, device, model kind and tf32.
func (c Config) validateSetup(bad func(string, ...any)) {
	if _, err := tensor.ParseDType(c.DType); err != nil {
		bad("dtype: %v", err)
	}
	if err := device.Check(c.Device); err != nil {
		bad("%v", err)
	}
	if k, _ := c.Model["kind"].(string); k == "" {
		bad("model: needs a kind (valid: %s)", strings.Join(models.Kinds(), ", "))
	}
	if c.TF32 && !strings.HasPrefix(c.Device, "cuda") {
		bad("tf32: applies to GPU GEMMs; device %q is not cuda:N", c.Device)
	}
}

// validateParallel checks the parallel and ddp keys.
func (c Config) validateParallel(bad func(string, ...any)) {
	if c.Parallel.FDDevices < 0 {
		bad("parallel.fd_devices must be at least 0, got %d", c.Parallel.FDDevices)
	} else if c.Parallel.FDDevices > 1 {
		if !strings.HasPrefix(c.Objective.Name, "fd-") {
			bad("parallel.fd_devices %d spreads an FD objective's evaluations over devices; objective %s is not one (fd-ssm, fd-dsm, fd-mdsm, fd-ssmvr, fd-ssm-stencil)", c.Parallel.FDDevices, c.Objective.Name)
		}
		if _, err := device.Group(c.Device, c.Parallel.FDDevices); err != nil {
			bad("parallel.fd_devices: %v", err)
		}
	}
	if c.DDP.BucketMB < 0 || c.DDP.FirstBucketMB < 0 {
		bad("ddp: bucket sizes must be positive (or 0 for the defaults), got %g and %g MiB", c.DDP.BucketMB, c.DDP.FirstBucketMB)
	}
}

// validateData checks the data keys and that the training and validation
// datasets can be found.
func (c Config) validateData(bad func(string, ...any)) {
	if c.Data.Holdout < 0 || c.Data.Holdout >= 1 {
		bad("data.holdout must be in [0, 1), got %g", c.Data.Holdout)
	}
	var dataNames [][2]string
	switch {
	case c.Data.Shards != "":
		c.validateShards(bad)
	case c.Data.Name == "":
		bad("data.name: missing (valid: %s, or a path), or data.shards", strings.Join(data.Names(), ", "))
	default:
		dataNames = append(dataNames, [2]string{"data.name", c.Data.Name})
	}
	if c.Validation.Every > 0 {
		dataNames = append(dataNames, [2]string{"validation.data", c.Validation.Data})
	}
	for _, d := range dataNames {
		if err := data.CheckDir(d[1], data.OpenOptions{DataDir: c.Data.Dir, DirHint: DataDirHint}); err != nil {
			bad("%s: %v", d[0], err)
		}
	}
}

// validateOptimization checks that the objective, learning-rate schedule
// and optimizer can be built.
func (c Config) validateOptimization(bad func(string, ...any)) {
	if _, err := objective.New(c.Objective.Name, c.objectiveOptions()); err != nil {
		bad("objective: %v", err)
	}
	if c.Optimizer.LR <= 0 {
		bad("optimizer.lr must be positive, got %g", c.Optimizer.LR)
	} else if _, err := NewSchedule(c.Schedule.Kind, c.Optimizer.LR, c.Steps, c.Schedule.Warmup, c.Schedule.MinLR); err != nil && c.Steps > 0 {
		bad("%v", err)
	}
	if _, err := NewOptimizer(c.Optimizer.Kind, OptimizerOptions{Beta1: c.Optimizer.Beta1, Beta2: c.Optimizer.Beta2,
		Eps: c.Optimizer.Eps, WeightDecay: c.Optimizer.WeightDecay, Momentum: c.Optimizer.Momentum}); err != nil {
		bad("optimizer: %v", err)
	}
}

// validateSizes checks the batch, steps, accumulate, clip_norm and jitter.
func (c Config) validateSizes(bad func(string, ...any)) {
	if c.Batch <= 0 {
		bad("batch must be positive, got %d", c.Batch)
	}
	if c.Steps <= 0 {
		bad("steps must be positive, got %d", c.Steps)
	}
	if c.Accumulate <= 0 {
		bad("accumulate must be at least 1, got %d", c.Accumulate)
	}
	if c.ClipNorm < 0 || c.Jitter < 0 {
		bad("clip_norm and jitter must not be negative")
	}
}

// validateObjectiveScales checks the objective's noise scales.
func (c Config) validateObjectiveScales(bad func(string, ...any)) {
	if c.Objective.Eps <= 0 || c.Objective.Sigma <= 0 {
		bad("objective.eps and objective.sigma must be positive (got %g, %g)", c.Objective.Eps, c.Objective.Sigma)
	}
	if o := c.Objective; o.SigmaMin < 0 || o.SigmaMax < 0 || o.S0 < 0 || (o.SigmaMax > 0 && o.SigmaMin > o.SigmaMax) {
		bad("objective.sigma_min <= sigma_max and s0 must not be negative (0: the reference values), got %g, %g, %g", o.SigmaMin, o.SigmaMax, o.S0)
	}
}

// validateSupervision checks what watches and records the run: bad-step
// handling, validation, samples and checkpoints.
func (c Config) validateSupervision(bad func(string, ...any)) {
	if c.BadSteps.MaxConsecutive <= 0 {
		bad("bad_steps.max_consecutive must be at least 1")
	}
	if c.Validation.Every < 0 || c.Validation.Batches < 0 || c.Validation.Patience < 0 {
		bad("validation.every, validation.batches and validation.patience must not be negative")
	}
	if err := c.Samples.Validate(); err != nil {
		bad("%v", err)
	}
	if c.Checkpoint.Every < 0 || c.Checkpoint.Keep < 1 {
		bad("checkpoint.every must be >= 0 and checkpoint.keep >= 1")
	}
}

// ObjectiveOptions returns the objective's options as the config sets them.
func (c Config) ObjectiveOptions() objective.Options { return c.objectiveOptions() }

func (c Config) objectiveOptions() objective.Options {
	return objective.Options{Eps: c.Objective.Eps, Sigma: c.Objective.Sigma, Projection: objective.Projection(c.Objective.Projection),
		Scaling: objective.Scaling(c.Objective.Scaling), Sequential: c.Objective.Sequential,
		SigmaMin: c.Objective.SigmaMin, SigmaMax: c.Objective.SigmaMax, S0: c.Objective.S0, SigmaSpacing: c.Objective.SigmaSpacing}
}

// ModelSpec returns the model spec.
func (c Config) ModelSpec() models.Spec {
	s := models.Spec{Options: map[string]any{}}
	for k, v := range c.Model {
		if k == "kind" {
			s.Kind, _ = v.(string)
			continue
		}
		s.Options[k] = v
	}
	return s
}

// validateShards checks the data.shards keys.
func (c Config) validateShards(bad func(string, ...any)) {
	d := c.Data
	if d.Name != "" {
		bad("data: give name (an indexed dataset) or shards (a stream of tar shards), not both")
	}
	if d.Holdout > 0 || d.Limit > 0 {
		bad("data.shards: holdout and limit apply to indexed datasets (data.name); split shards into directories of their own instead")
	}
	if d.ImageSize < 0 || (d.Channels != 0 && d.Channels != 1 && d.Channels != 3) || d.ShuffleBuffer < 0 || d.MaxBad < -1 {
		bad("data.shards: image_size %d, channels %d, shuffle_buffer %d, max_bad %d: want image_size >= 0, channels 1 or 3, shuffle_buffer >= 0, max_bad >= -1",
			d.ImageSize, d.Channels, d.ShuffleBuffer, d.MaxBad)
	}
	if d.Decoder != "" && !slices.Contains(data.JPEGDecoders(), d.Decoder) {
		bad("data.decoder %q: this binary has %s", d.Decoder, strings.Join(data.JPEGDecoders(), ", "))
	}
	// Whether the shards exist is checked when the run opens them (still
	// before any training), so that configs can name a placeholder path.
}
