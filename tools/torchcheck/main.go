// Command torchcheck writes inputs and fdsm's higher-order gradients to a
// JSON file that torchcheck.py recomputes with PyTorch's autograd: an
// independent reference beside the central-difference tests. Run:
//
//	go run ./tools/torchcheck -out check.json && python3 tools/torchcheck/torchcheck.py check.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

type array struct {
	Shape []int     `json:"shape"`
	Data  []float64 `json:"data"`
}

type check struct {
	Name   string           `json:"name"`
	Inputs map[string]array `json:"inputs"`
	Value  float64          `json:"value"`
	Grads  map[string]array `json:"grads"`
}

var be = tensor.DefaultCPU()

func rnd(rng *tensor.RNG, std float64, shape ...int) *tensor.Tensor {
	t := be.Empty(tensor.Float64, shape...)
	be.Random(t, tensor.Normal(0, std), rng)
	return t
}

func arr(t *tensor.Tensor) array { return array{Shape: t.Shape().Clone(), Data: t.ToFloat64s()} }

// run evaluates f on leaves for the named inputs and records the value and
// the gradient of every input.
func run(name string, in map[string]*tensor.Tensor, order []string, f func(v map[string]*ad.Var) *ad.Var) check {
	tp := ad.NewTape(be)
	defer tp.Reset()
	vars := map[string]*ad.Var{}
	var leaves []*ad.Var
	for _, k := range order {
		vars[k] = tp.Leaf(in[k])
		leaves = append(leaves, vars[k])
	}
	out := f(vars)
	gs := ad.Grad1(out, leaves...)
	c := check{Name: name, Inputs: map[string]array{}, Grads: map[string]array{}, Value: out.Item()}
	for i, k := range order {
		c.Inputs[k] = arr(in[k])
		c.Grads[k] = arr(gs[i].Value())
	}
	return c
}

func main() {
	out := flag.String("out", "torchcheck.json", "output file")
	flag.Parse()
	rng := tensor.NewRNG(7)
	create := ad.GradOptions{CreateGraph: true}
	var checks []check

	// Exact SSM's third-order quantity: sum v·∇x(v·∇x E) for a softplus MLP.
	mlp := map[string]*tensor.Tensor{
		"x": rnd(rng, 1, 4, 6), "v": rnd(rng, 1, 4, 6),
		"w0": rnd(rng, 0.5, 8, 6), "b0": rnd(rng, 0.5, 8), "w1": rnd(rng, 0.5, 8, 8), "b1": rnd(rng, 0.5, 8),
		"w2": rnd(rng, 0.5, 1, 8), "b2": rnd(rng, 0.5, 1),
	}
	checks = append(checks, run("mlp_ssm_third_order", mlp, []string{"w0", "b0", "w1", "b1", "w2", "b2", "x", "v"}, func(p map[string]*ad.Var) *ad.Var {
		h := ad.Softplus(ad.Linear(p["x"], p["w0"], p["b0"]))
		h = ad.Softplus(ad.Linear(h, p["w1"], p["b1"]))
		e := ad.Sum(ad.Linear(h, p["w2"], p["b2"]))
		g := ad.Grad([]*ad.Var{e}, []*ad.Var{p["x"]}, create)[0]
		hv := ad.Grad([]*ad.Var{ad.Sum(ad.Mul(p["v"], g))}, []*ad.Var{p["x"]}, create)[0]
		return ad.Sum(ad.Mul(p["v"], hv))
	}))

	// Conv second order: gradient of ||∇x E||² for an ELU conv net with
	// stride, padding, dilation and average pooling.
	conv := map[string]*tensor.Tensor{
		"x": rnd(rng, 1, 2, 3, 9, 8), "w0": rnd(rng, 0.3, 4, 3, 3, 3), "w1": rnd(rng, 0.3, 2, 4, 2, 3),
	}
	checks = append(checks, run("conv_score_norm", conv, []string{"w0", "w1", "x"}, func(p map[string]*ad.Var) *ad.Var {
		h := ad.ELU(ad.Conv2D(p["x"], p["w0"], tensor.ConvParams{StrideH: 2, StrideW: 1, PadH: 1, PadW: 2, DilationH: 1, DilationW: 2}))
		h = ad.AvgPool2D(h, tensor.PoolParams{Kernel: 2})
		h = ad.Softplus(ad.Conv2D(h, p["w1"], tensor.Conv(1, 1, 1)))
		e := ad.Sum(h)
		g := ad.Grad([]*ad.Var{e}, []*ad.Var{p["x"]}, create)[0]
		return ad.Sum(ad.Square(g))
	}))

	// Differentiating through a solve, twice (DKEF needs it).
	a := rnd(rng, 0.3, 5, 5)
	for i := 0; i < 5; i++ {
		a.Set(a.At(i, i)+2, i, i)
	}
	sol := map[string]*tensor.Tensor{"a": a, "b": rnd(rng, 1, 5, 2)}
	checks = append(checks, run("solve_second_order", sol, []string{"a", "b"}, func(p map[string]*ad.Var) *ad.Var {
		x, err := ad.Solve(p["a"], p["b"])
		if err != nil {
			panic(err)
		}
		s := ad.Sum(ad.Tanh(x))
		g := ad.Grad([]*ad.Var{s}, []*ad.Var{p["b"]}, create)[0]
		return ad.Sum(ad.Square(g))
	}))

	b, err := json.MarshalIndent(checks, "", " ")
	if err == nil {
		err = os.WriteFile(*out, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "torchcheck:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %d checks to %s\n", len(checks), *out)
}
