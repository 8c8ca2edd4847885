package main

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/device"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/objective"
	"github.com/fdsm-go/fdsm/safetensors"
	"github.com/fdsm-go/fdsm/tensor"
)

// objectiveFlags are the values of `fdsm objective`'s flags.
type objectiveFlags struct {
	model, params, method, dtype, out string
	x, v, noise, levels, sigmas       string
	scaling, projection, device       string
	sigma, eps                        float64
	seed                              uint64
	sequential                        bool
}

// objectiveResult is what `fdsm objective` prints.
type objectiveResult struct {
	Loss      jsonFloat   `json:"loss"`
	PerSample []jsonFloat `json:"per_sample"`
}

// jsonFloat encodes NaN and ±Inf as null, which JSON can represent, where
// encoding/json would fail on them.
type jsonFloat float64

func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

func newObjectiveCmd() *cobra.Command {
	var f objectiveFlags
	cmd := &cobra.Command{
		Use:   "objective",
		Short: "Evaluate a training objective (and its parameter gradients) on given inputs",
		Long: `Evaluates objective --method for the model --model with the parameters in
--params on the data --x, and prints {"loss": L, "per_sample": [...]} as JSON
(NaN and infinities print as null). The loss is the per-sample terms' mean
times the objective's scale (see --scaling).

--model is a spec file (YAML or JSON), an inline spec, or a kind name. With a
kind name the spec comes from the "fdsm.spec" metadata of --params when it is
of that kind; otherwise, for mlp, input_dim and hidden are read off the
layers.{i}.weight shapes (the activation is then the default, softplus).
Without --model the spec comes from the --params metadata.

Inputs are .npy files. --x is [n, ...input shape], or [n, d] flattened;
--v and --noise must have the shape of --x. Given inputs are used as they
are (no rescaling: for the FD objectives ‖v‖ is the step). Whatever an
objective needs and is not given (directions, noise, noise levels) is drawn
from an RNG seeded with --seed (default 0), so runs are reproducible.

With --out the gradients of the loss with respect to every parameter are
written as safetensors, under the parameters' names, in the model's dtype.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runObjective(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.model, "model", "", "model spec file, inline spec or kind name (default: the --params metadata)")
	fl.StringVar(&f.params, "params", "", "parameters (safetensors checkpoint) (required)")
	fl.StringVar(&f.x, "x", "", "data x, .npy of shape [n, ...] (required)")
	fl.StringVar(&f.v, "v", "", "directions v, .npy of x's shape (default: drawn)")
	fl.StringVar(&f.noise, "noise", "", "standard normal noise, .npy of x's shape (default: drawn)")
	fl.StringVar(&f.levels, "levels", "", "noise-level indices per sample, .npy of shape [n] (default: drawn)")
	fl.StringVar(&f.sigmas, "sigmas", "", "noise scales per sample, .npy of shape [n] (default: the objective's)")
	fl.StringVar(&f.method, "method", "", "objective: "+strings.Join(objective.Names(), ", ")+" (required)")
	fl.StringVar(&f.dtype, "dtype", "float64", "float64 or float32")
	fl.StringVar(&f.out, "out", "", "write the loss's parameter gradients to this safetensors file")
	fl.Float64Var(&f.sigma, "sigma", 0, "DSM noise scale σ (0: the objective's default, 0.1)")
	fl.Float64Var(&f.eps, "eps", 0, "FD step and sphere radius ε (0: the objective's default, 0.1)")
	fl.StringVar(&f.scaling, "scaling", "", "loss scaling: paper, reference-ebm, reference-flow, reference-ncsn (default paper)")
	fl.StringVar(&f.projection, "projection", "", "SSM directions: gaussian, rademacher, sphere (default gaussian)")
	fl.BoolVar(&f.sequential, "sequential", false, "FD objectives: one model call per shifted block instead of one batched call")
	fl.Uint64Var(&f.seed, "seed", 0, "seed of the RNG for inputs not given")
	addDeviceFlag(cmd, &f.device, device.Default)
	return cmd
}

func runObjective(cmd *cobra.Command, f objectiveFlags) error {
	for _, req := range []struct{ name, val string }{{"x", f.x}, {"params", f.params}, {"method", f.method}} {
		if req.val == "" {
			return fmt.Errorf("--%s is required", req.name)
		}
	}
	obj, err := objective.New(f.method, objective.Options{
		Eps: f.eps, Sigma: f.sigma, Sequential: f.sequential,
		Scaling: objective.Scaling(f.scaling), Projection: objective.Projection(f.projection),
	})
	if err != nil {
		return err
	}
	dt, err := tensor.ParseDType(f.dtype)
	if err != nil {
		return fmt.Errorf("--dtype: %w", err)
	}
	log := logger()
	spec, err := resolveSpec(f.model, f.params, log)
	if err != nil {
		return err
	}
	be, err := openDevice(f.device)
	if err != nil {
		return err
	}
	m, err := models.Build(spec, be, dt, 0)
	if err != nil {
		return fmt.Errorf("--model: %w", err)
	}
	if err := models.LoadParams(f.params, m); err != nil {
		return fmt.Errorf("--params: %w", err)
	}
	b, drawn, err := loadBatch(f, m, be)
	if err != nil {
		return err
	}
	if len(drawn) > 0 {
		log.Info().Strs("drawn", drawn).Uint64("seed", f.seed).Msg("objective: inputs not given are drawn from the seeded RNG if the objective uses them")
	}

	tp := ad.NewTape(be)
	defer tp.Reset()
	res, err := obj.Eval(tp, m, b, tensor.NewRNG(f.seed))
	if err != nil {
		return fmt.Errorf("evaluating objective %s: %w", f.method, err)
	}
	out := objectiveResult{Loss: jsonFloat(res.Loss.Item())}
	for _, v := range res.PerSample.Value().ToFloat64s() {
		out.PerSample = append(out.PerSample, jsonFloat(v))
	}
	if f.out != "" {
		if err := writeGrads(f.out, tp, m, res.Loss, f.method); err != nil {
			return err
		}
		log.Info().Str("file", f.out).Int("tensors", len(m.Params())).Msg("objective: wrote gradients")
	}
	enc := json.NewEncoder(cmd.OutOrStdout())
	return enc.Encode(out)
}

// writeGrads writes d loss / d p for every parameter p of m, in m's dtype.
func writeGrads(path string, tp *ad.Tape, m models.Model, loss *ad.Var, method string) error {
	ps := m.Params()
	wrt := make([]*ad.Var, len(ps))
	for i, p := range ps {
		wrt[i] = tp.Param(p) // the step's leaf; a parameter the loss ignores gets zeros
	}
	gs := ad.Grad([]*ad.Var{loss}, wrt, ad.GradOptions{})
	list := make([]safetensors.Tensor, len(ps))
	for i, p := range ps {
		sdt := safetensors.F64
		if p.Value.DType() == tensor.Float32 {
			sdt = safetensors.F32
		}
		vals := gs[i].Value().ToFloat64s()
		data := make([]byte, len(vals)*sdt.Size())
		if err := safetensors.Encode(data, sdt, vals); err != nil {
			return fmt.Errorf("--out %s: %w", path, err)
		}
		list[i] = safetensors.Tensor{Name: p.Name, DType: sdt, Shape: p.Value.Shape().Clone(), Data: data}
	}
	meta := map[string]string{
		models.MetaFormat: "pt",
		"fdsm.objective":  method,
		"fdsm.loss":       strconv.FormatFloat(loss.Item(), 'g', -1, 64),
		models.MetaDType:  m.DType().String(),
	}
	if err := safetensors.WriteFile(path, list, meta); err != nil {
		return fmt.Errorf("--out %s: %w", path, err)
	}
	return nil
}

// isKind reports whether arg names a model kind.
func isKind(arg string) bool { return slices.Contains(models.Kinds(), arg) }
