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
	specs := []models.Spec{
		{Kind: "mlp", Options: map[string]any{"input_dim": 6, "hidden": []int{5, 4}}},
		{Kind: "resnet_ebm", Options: map[string]any{"in_channels": 2, "image_size": 8, "n_chan": 3, "activation": "shifted_softplus",
			"blocks": []any{map[string]any{"out": 4, "down": true}, map[string]any{"out": 4}, map[string]any{"out": 5, "down": true}}}},
		{Kind: "nice", Options: map[string]any{"input_dim": 8, "hidden": 6, "hidden_layers": 2}},
		{Kind: "dkef", Options: map[string]any{"input_dim": 3, "num_inducing": 5, "feature_dim": 4}},
		{Kind: "ncsn", Options: map[string]any{"channels": 3, "image_size": 8, "ngf": 4, "num_levels": 3}},
	}
	rng := tensor.NewRNG(11)
	for _, s := range specs {
		m, err := models.Build(s, be, tensor.Float64, 1)
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
		if err := models.SaveCheckpoint(filepath.Join(dir, s.Kind+".safetensors"), m, nil); err != nil {
			return err
		}
		ts := []safetensors.Tensor{
			safetensors.FromFloat64s("x", x.Shape(), x.ToFloat64s()),
			safetensors.FromFloat64s("out", out.Shape(), out.Value().ToFloat64s()),
			safetensors.FromFloat64s("levels", []int{n}, levels),
		}
		if err := safetensors.WriteFile(filepath.Join(dir, s.Kind+".io.safetensors"), ts, nil); err != nil {
			return err
		}
		tp.Reset()
		fmt.Printf("%-10s %d parameters\n", s.Kind, models.NumParams(m))
	}
	return nil
}
