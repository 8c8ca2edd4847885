// Command modelcheck writes, for a small float64 configuration of every model
// kind, a checkpoint and a file of inputs and fdsm's outputs, which
// tools/pytorch/check_models.py loads into the equivalent PyTorch modules
// (load_state_dict(strict=True)) and recomputes. Run:
//
//	go run ./tools/modelcheck -dir /tmp/mc && python3 tools/pytorch/check_models.py /tmp/mc
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/safetensors"
	"github.com/fdsm-go/fdsm/tensor"
)

// cases are the configurations checked, each written as NAME.safetensors and
// NAME.io.safetensors; check_models.py's CASES lists the same names, and
// every registered kind has at least one (main_test.go).
var cases = []struct {
	name string
	spec models.Spec
}{
	{"mlp", models.Spec{Kind: "mlp", Options: map[string]any{"input_dim": 6, "hidden": []int{5, 4}}}},
	{"mlp-quadratic", models.Spec{Kind: "mlp", Options: map[string]any{"input_dim": 6, "hidden": []int{5, 4}, "activation": "swish",
		"head": "quadratic", "base_precision": 5.0}}},
	{"resnet_ebm", models.Spec{Kind: "resnet_ebm", Options: map[string]any{"in_channels": 2, "image_size": 8, "n_chan": 3, "activation": "shifted_softplus",
		"blocks": []any{map[string]any{"out": 4, "down": true}, map[string]any{"out": 4}, map[string]any{"out": 5, "down": true}}}}},
	{"nice", models.Spec{Kind: "nice", Options: map[string]any{"input_dim": 8, "hidden": 6, "hidden_layers": 2}}},
	{"nice-tanh", models.Spec{Kind: "nice", Options: map[string]any{"input_dim": 6, "hidden": 5, "hidden_layers": 1, "coupling_layers": 3, "activation": "tanh"}}},
	{"dkef", models.Spec{Kind: "dkef", Options: map[string]any{"input_dim": 3, "num_inducing": 5, "feature_dim": 4}}},
	{"dkef-2k", models.Spec{Kind: "dkef", Options: map[string]any{"input_dim": 3, "num_inducing": 4, "feature_dim": 3, "num_kernels": 2, "q0_std": 1.5}}},
	{"ncsn", models.Spec{Kind: "ncsn", Options: map[string]any{"channels": 3, "image_size": 8, "ngf": 4, "num_levels": 3}}},
	{"ncsn-gray", models.Spec{Kind: "ncsn", Options: map[string]any{"channels": 1, "image_size": 8, "ngf": 3, "num_levels": 3,
		"activation": "softplus", "rescale_input": false}}},
	{"dae", models.Spec{Kind: "dae", Options: map[string]any{"input_dim": 6, "hidden": []int{5, 4}, "scale": 3.0}}},
	{"dae-linear", models.Spec{Kind: "dae", Options: map[string]any{"input_dim": 6, "hidden": []int{5}, "activation": "tanh", "output": "linear"}}},
	{"mlp-score", models.Spec{Kind: "mlp-score", Options: map[string]any{"input_dim": 6, "hidden": []int{5, 4}, "num_levels": 4,
		"sigma_begin": 3.0, "sigma_end": 0.2, "sigma_data": 0.7}}},
	{"mlp-score-pca", models.Spec{Kind: "mlp-score", Options: map[string]any{"input_dim": 7, "hidden": []int{5, 4}, "num_levels": 3,
		"sigma_begin": 2.0, "sigma_end": 0.25, "pca": 3, "activation": "tanh"}}},
}

func main() {
	dir := flag.String("dir", "modelcheck", "output directory")
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "modelcheck:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	be := tensor.DefaultCPU()
	rng := tensor.NewRNG(11)
	for _, c := range cases {
		m, err := models.Build(c.spec, be, tensor.Float64, 1)
		if err != nil {
			return err
		}
		// Perturb every parameter so none sits at a special initial value
		// (zero scales and biases would hide mistakes).
		for _, p := range m.Params() {
			noise := be.Empty(tensor.Float64, p.Value.Shape()...)
			be.Random(noise, tensor.Normal(0, 0.1), rng)
			be.Binary(tensor.OpAdd, p.Value, p.Value, noise)
		}
		if d, ok := m.(*models.DKEF); ok {
			a := be.Empty(tensor.Float64, d.Alpha().Shape()...)
			be.Random(a, tensor.Normal(0, 1), rng)
			d.SetAlpha(a)
		}
		if k, ok := c.spec.Options["pca"].(int); ok {
			if err := setRandomPCA(be, m.(*models.MLPScore), k, rng); err != nil {
				return err
			}
		}
		n := 3
		x := be.Empty(tensor.Float64, append([]int{n}, m.InputShape()...)...)
		be.Random(x, tensor.Normal(0.5, 0.5), rng)
		tp := ad.NewTape(be)
		var out *ad.Var
		levels := []float64{0, 1, 2}
		switch mm := m.(type) {
		case models.Energy:
			out = mm.LogDensity(tp.Const(x))
		case models.Score:
			out = mm.Score(tp.Const(x), models.OneHot(tp, x.DType(), []int{0, 1, 2}, mm.Levels()))
		}
		if err := models.SaveCheckpoint(filepath.Join(dir, c.name+".safetensors"), m, nil); err != nil {
			return err
		}
		ts := []safetensors.Tensor{
			safetensors.FromFloat64s("x", x.Shape(), x.ToFloat64s()),
			safetensors.FromFloat64s("out", out.Shape(), out.Value().ToFloat64s()),
			safetensors.FromFloat64s("levels", []int{n}, levels),
		}
		if err := safetensors.WriteFile(filepath.Join(dir, c.name+".io.safetensors"), ts, nil); err != nil {
			return err
		}
		tp.Reset()
		fmt.Printf("%-13s %d parameters\n", c.name, models.NumParams(m))
	}
	return nil
}

// setRandomPCA gives m the PCA basis of random correlated samples, so that
// its mean and components are neither zero nor unit vectors.
func setRandomPCA(be tensor.Backend, m *models.MLPScore, k int, rng *tensor.RNG) error {
	d := m.InputShape()[0]
	const n = 50
	mix := be.Empty(tensor.Float64, d, d)
	be.Random(mix, tensor.Normal(0, 1), rng)
	z := be.Empty(tensor.Float64, n, d)
	be.Random(z, tensor.Normal(0.3, 1), rng)
	samples := be.Empty(tensor.Float64, n, d)
	be.Gemm(false, false, 1, z, mix, 0, samples)
	v := samples.ToFloat64s()
	b, err := models.FitPCA(n, d, k, func(i int, dst []float32) error {
		for j := range dst {
			dst[j] = float32(v[i*d+j])
		}
		return nil
	})
	if err != nil {
		return err
	}
	m.SetPCA(b)
	return nil
}
