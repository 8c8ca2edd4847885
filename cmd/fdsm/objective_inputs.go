package main

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/npy"
	"github.com/fdsm-go/fdsm/objective"
	"github.com/fdsm-go/fdsm/safetensors"
	"github.com/fdsm-go/fdsm/tensor"
)

// resolveSpec turns --model into a spec. A kind name takes the options from
// the parameters file: its "fdsm.spec" metadata when of that kind, else
// (mlp only) the layer shapes. An empty --model takes the metadata's spec.
func resolveSpec(arg, paramsPath string, log *zerolog.Logger) (models.Spec, error) {
	if arg != "" && !isKind(arg) {
		s, err := models.LoadSpec(arg)
		if err != nil {
			return models.Spec{}, fmt.Errorf("--model: %w", err)
		}
		return s, nil
	}
	r, err := safetensors.Open(paramsPath)
	if err != nil {
		return models.Spec{}, fmt.Errorf("--params: %w", err)
	}
	defer r.Close()
	var meta *models.Spec
	if text, ok := r.Metadata[models.MetaSpec]; ok {
		var s models.Spec
		if err := json.Unmarshal([]byte(text), &s); err != nil {
			return models.Spec{}, fmt.Errorf("--params %s: invalid %q metadata: %v", paramsPath, models.MetaSpec, err)
		}
		meta = &s
	}
	switch {
	case meta != nil && (arg == "" || meta.Kind == arg):
		return *meta, nil
	case arg == "":
		return models.Spec{}, fmt.Errorf("--model not given and %s has no %q metadata: pass --model with a spec file, an inline spec or a kind", paramsPath, models.MetaSpec)
	case arg == "mlp":
		shapes := map[string][]int{}
		for _, in := range r.Tensors() {
			shapes[in.Name] = in.Shape
		}
		s, err := models.InferMLPSpec(shapes)
		if err != nil {
			return models.Spec{}, fmt.Errorf("--model mlp: cannot infer the sizes from %s: %v; pass a spec file", paramsPath, err)
		}
		log.Info().Interface("spec", s).Msg("objective: mlp sizes inferred from the parameters (activation: the default)")
		return s, nil
	}
	why := fmt.Sprintf("has no %q metadata", models.MetaSpec)
	if meta != nil {
		why = fmt.Sprintf("holds a %s model, not %s", meta.Kind, arg)
	}
	return models.Spec{}, fmt.Errorf("--model %s: %s %s, and the options of this kind cannot be inferred from the parameters; pass a spec file (YAML or JSON) or an inline spec", arg, paramsPath, why)
}

// loadBatch reads the .npy inputs in the model's dtype. It returns the
// names of the inputs not given (which the objective may draw).
func loadBatch(f objectiveFlags, m models.Model, be tensor.Backend) (objective.Batch, []string, error) {
	var b objective.Batch
	xa, xshape, err := loadSamples("x", f.x, m.InputShape())
	if err != nil {
		return b, nil, err
	}
	n := xshape[0]
	b.X = tensor.FromFloat64s(be, m.DType(), xshape, xa.Data)
	var drawn []string
	for _, in := range []struct {
		flag, path string
		dst        **tensor.Tensor
	}{{"v", f.v, &b.V}, {"noise", f.noise, &b.Noise}} {
		if in.path == "" {
			drawn = append(drawn, in.flag)
			continue
		}
		a, shape, err := loadSamples(in.flag, in.path, m.InputShape())
		if err != nil || !slices.Equal(shape, xshape) {
			if err == nil {
				err = fmt.Errorf("--%s %s has shape %v but --x %s has shape %v; they must match", in.flag, in.path, a.Shape, f.x, xa.Shape)
			}
			return b, nil, err
		}
		*in.dst = tensor.FromFloat64s(be, m.DType(), shape, a.Data)
	}
	if f.levels == "" {
		if _, ok := m.(models.Score); ok {
			drawn = append(drawn, "levels")
		}
	} else {
		vals, err := loadPerSample("levels", f.levels, n)
		if err != nil {
			return b, nil, err
		}
		levels := make([]int, n)
		for i, v := range vals {
			if v != math.Trunc(v) || math.Abs(v) > 1<<31 {
				return b, nil, fmt.Errorf("--levels %s: value %v at %d is not an integer", f.levels, v, i)
			}
			levels[i] = int(v)
		}
		// Score networks panic on a level out of range: check here.
		if s, ok := m.(models.Score); ok {
			for i, l := range levels {
				if l < 0 || l >= s.Levels() {
					return b, nil, fmt.Errorf("--levels %s: level %d at %d is out of range [0, %d)", f.levels, l, i, s.Levels())
				}
			}
		}
		b.Levels = levels
	}
	if f.sigmas != "" {
		vals, err := loadPerSample("sigmas", f.sigmas, n)
		if err != nil {
			return b, nil, err
		}
		for i, v := range vals {
			if !(v > 0) || math.IsInf(v, 0) {
				return b, nil, fmt.Errorf("--sigmas %s: value %v at %d is not a positive number", f.sigmas, v, i)
			}
		}
		b.Sigmas = vals
	}
	return b, drawn, nil
}

// loadSamples reads a batch of samples and returns it with its shape as
// [n, ...in]: the file may hold [n, ...in] or, flattened, [n, prod(in)].
func loadSamples(flag, path string, in []int) (*npy.Array, []int, error) {
	a, err := npy.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("--%s: %w", flag, err)
	}
	d := tensor.Shape(in).Numel()
	want := append([]int{0}, in...)
	if len(a.Shape) >= 1 {
		want[0] = a.Shape[0]
		if slices.Equal(a.Shape, want) || (len(a.Shape) == 2 && a.Shape[1] == d) {
			return a, want, nil
		}
	}
	return nil, nil, fmt.Errorf("--%s %s has shape %v; the model takes samples of shape %v, so it must be [n %s] or [n %d]",
		flag, path, a.Shape, in, strings.Trim(fmt.Sprint(in), "[]"), d)
}

// loadPerSample reads n per-sample values, [n] (or [n, 1]).
func loadPerSample(flag, path string, n int) ([]float64, error) {
	a, err := npy.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flag, err)
	}
	if !slices.Equal(a.Shape, []int{n}) && !slices.Equal(a.Shape, []int{n, 1}) {
		return nil, fmt.Errorf("--%s %s has shape %v; want [%d], one value per sample of --x", flag, path, a.Shape, n)
	}
	return a.Data, nil
}
