package trainer

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/fdsm-go/fdsm/data"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/npy"
	"github.com/fdsm-go/fdsm/tensor"
)

// SamplesConfig says how samples are drawn: the grid of N at the end of a
// run (0: none) and `fdsm sample`, which reuses a run's settings.
//
// Energy models sample by Langevin dynamics x <- x - ½h²∇E + √T·h·n under a
// temperature schedule (LangevinOptions); Sampler "reference" is the deep-EBM
// reference protocol (paper-code-facts §4), "langevin" the Step, Schedule,
// Denoise and Init given here (zero Step, nil Schedule and empty Init take
// the reference's). Score networks sample by annealed Langevin over their
// noise levels, StepsPerLevel each (0: 100) with step Eps·(σ_i/σ_L)² (0:
// NCSN's 2e-5), ending with Tweedie's step x + σ_L²·s(x, σ_L) when Denoise
// is positive. Flows (NICE) draw exact
// samples through their inverse at Temperature (0: 1). Scale multiplies
// every step count (1: as configured).
type SamplesConfig struct {
	N             int         `json:"n"`
	Scale         float64     `json:"scale"`
	Sampler       string      `json:"sampler"`
	Step          float64     `json:"step"`
	Schedule      []TempPhase `json:"schedule"`
	Denoise       float64     `json:"denoise"`
	Init          string      `json:"init"`
	StepsPerLevel int         `json:"steps_per_level"`
	Eps           float64     `json:"eps"`
	// Temperature scales a flow's latent draw, z ~ N(0, T²I) (default 1).
	Temperature float64 `json:"temperature"`
}

// Samplers lists the valid SamplesConfig.Sampler values.
var Samplers = []string{"langevin", "reference"}

// Validate reports a bad sampler setting.
func (c SamplesConfig) Validate() error {
	if c.N < 0 || c.Scale < 0 || c.StepsPerLevel < 0 || c.Temperature < 0 || c.Eps < 0 || math.IsNaN(c.Scale) || math.IsNaN(c.Temperature) || math.IsNaN(c.Eps) || math.IsInf(c.Eps, 0) {
		return fmt.Errorf("samples: n, scale, steps_per_level, eps and temperature must not be negative (eps finite)")
	}
	if c.Sampler != "" && c.Sampler != "langevin" && c.Sampler != "reference" {
		return fmt.Errorf("samples.sampler %q: valid: %s", c.Sampler, strings.Join(Samplers, ", "))
	}
	if c.Sampler != "reference" {
		return c.langevin().validate()
	}
	return nil
}

// langevin returns the Langevin options c configures, before Scale.
func (c SamplesConfig) langevin() LangevinOptions {
	if c.Sampler == "reference" {
		return DefaultLangevinOptions()
	}
	return LangevinOptions{Step: c.Step, Schedule: c.Schedule, Denoise: c.Denoise, Init: c.Init}
}

// SampleSteps returns the number of model evaluations DrawSamples makes
// for m (its progress total).
func (c SamplesConfig) SampleSteps(m models.Model) int {
	switch mm := m.(type) {
	case models.Score:
		n := mm.Levels() * c.stepsPerLevel()
		if c.Denoise > 0 {
			n++
		}
		return n
	case models.Flow:
		return 1
	default:
		o := c.langevin().Scaled(c.scale())
		n := o.TotalSteps()
		if o.Denoise > 0 {
			n++
		}
		return n
	}
}

func (c SamplesConfig) scale() float64 {
	if c.Scale <= 0 {
		return 1
	}
	return c.Scale
}

func (c SamplesConfig) stepsPerLevel() int {
	spl := c.StepsPerLevel
	if spl == 0 {
		spl = 100
	}
	return max(1, int(math.Round(float64(spl)*c.scale())))
}

// DrawSamples draws n samples from m as c configures, with the generator
// seeded by seed, reporting each sampler step to progress (nil: none). The
// result lives on m's backend and belongs to the caller.
func DrawSamples(m models.Model, c SamplesConfig, n int, seed uint64, progress func(done, total int)) (*tensor.Tensor, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	be, dt := evalBackend(m, nil), m.DType()
	rng := tensor.NewRNG(seed)
	switch mm := m.(type) {
	case models.Score:
		return SampleAnnealed(mm, n, be, dt, rng, AnnealedOptions{StepsPerLevel: c.stepsPerLevel(), Eps: c.Eps, Denoise: c.Denoise > 0, Progress: progress})
	case models.Flow:
		t := c.Temperature
		if t == 0 {
			t = 1
		}
		x, err := SampleFlow(mm, n, be, dt, rng, t)
		if err == nil && progress != nil {
			progress(1, 1)
		}
		return x, err
	case models.Energy:
		o := c.langevin().Scaled(c.scale())
		o.Progress = progress
		return SampleLangevin(mm, n, be, dt, rng, o)
	}
	return nil, fmt.Errorf("no sampler for model %s", m.Spec().Kind)
}

// SampleFormats lists the file types SaveSamples writes.
const SampleFormats = ".png (a grid) or .npy (a NumPy array [N, C, H, W] in pixel scale [0, 1])"

// CheckSamplePath reports, before any sampling, whether SaveSamples can
// write path: a known extension and an existing, writable directory.
func CheckSamplePath(path string) error {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png", ".npy":
	default:
		return fmt.Errorf("%s: unknown sample file type %q; want %s", path, filepath.Ext(path), SampleFormats)
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("%s: no directory %s to write into", path, dir)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s: %s is not a directory", path, dir)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%s is a directory; give a file name ending in .png or .npy", path)
	}
	f, err := os.CreateTemp(dir, ".write-test-")
	if err != nil {
		return fmt.Errorf("%s: cannot write in %s: %w", path, dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}

// SaveSamples writes samples x (in the model's input space) to path: a PNG
// grid, 8 columns (2-D points: a scatter plot), or a NumPy float32 array
// [N, C, H, W] (images, also flattened square ones) or [N, D] in pixel
// scale [0, 1], with the data transforms that produced the model's inputs
// undone (see Pixels).
func SaveSamples(path string, x *tensor.Tensor, transforms []string) error {
	npyOut := strings.EqualFold(filepath.Ext(path), ".npy")
	if x.Rank() == 2 && x.Dim(1) == 2 {
		if npyOut {
			return npy.WriteFile(path, x.Shape(), x.ToFloat64s(), npy.Float32)
		}
		return WriteScatter(path, x)
	}
	vals, err := Pixels(x, transforms)
	if err != nil {
		return err
	}
	px := tensor.FromFloat64s(tensor.DefaultCPU(), tensor.Float32, imageShape(x.Shape()), toFloat64(vals))
	if npyOut {
		return npy.WriteFile(path, px.Shape(), px.ToFloat64s(), npy.Float32)
	}
	return WriteGrid(path, px, 8)
}

// imageShape is [N, 1, S, S] for flattened grey images [N, S*S] (an MLP's
// samples of MNIST), S at least 8; other shapes are returned as they are.
func imageShape(s tensor.Shape) tensor.Shape {
	if len(s) != 2 {
		return s
	}
	side := int(math.Round(math.Sqrt(float64(s[1]))))
	if side < 8 || side*side != s[1] {
		return s
	}
	return tensor.Shape{s[0], 1, side, side}
}

// Pixels returns samples x (in the model's input space, made by data
// transforms) in pixel scale [0, 1]: the transforms undone (data.ToPixels)
// and the values clamped.
func Pixels(x *tensor.Tensor, transforms []string) ([]float32, error) {
	ts, err := data.ParseTransforms(transforms)
	if err != nil {
		return nil, err
	}
	vals := toFloat32(x.ToFloat64s())
	data.ToPixels(ts, vals, x.Shape()[1:])
	return vals, nil
}

func toFloat32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func toFloat64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
