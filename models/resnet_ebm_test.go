package models

import (
	"testing"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

func TestResNetEBMReferenceParamCount(t *testing.T) {
	for _, c := range []struct{ in, want int }{{1, 62336771}, {3, 62339075}} {
		m, err := Build(Spec{Kind: "resnet_ebm", Options: map[string]any{"in_channels": c.in}}, tensor.NewCPU(), tensor.Float32, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := NumParams(m); got != c.want {
			t.Errorf("in_channels %d: %d parameters, want %d", c.in, got, c.want)
		}
	}
}

// smallResNet is a CPU-sized resnet_ebm: width 4, three blocks, 8x8.
func smallResNet(t *testing.T, dt tensor.DType, act string) *ResNetEBM {
	t.Helper()
	m, err := Build(Spec{Kind: "resnet_ebm", Options: map[string]any{
		"in_channels": 2, "image_size": 8, "n_chan": 3, "activation": act,
		"blocks": []any{map[string]any{"out": 4, "down": true}, map[string]any{"out": 4}, map[string]any{"out": 5, "down": true}},
	}}, tensor.DefaultCPU(), dt, 3)
	if err != nil {
		t.Fatal(err)
	}
	return m.(*ResNetEBM)
}

func TestResNetEBMForwardShape(t *testing.T) {
	m := smallResNet(t, tensor.Float32, "elu")
	tp := ad.NewTape(tensor.DefaultCPU())
	x := tp.Random(tensor.Float32, tensor.Normal(0, 1), tensor.NewRNG(1), 5, 2, 8, 8)
	if got := m.LogDensity(x).Shape(); !got.Equal(tensor.Shape{5}) {
		t.Fatalf("log density shape %v, want [5]", got)
	}
	// 128x128 inputs (ImageNet) build and run at a small width.
	big, err := Build(Spec{Kind: "resnet_ebm", Options: map[string]any{"in_channels": 3, "image_size": 128, "n_chan": 2}}, tensor.DefaultCPU(), tensor.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	xb := tp.Random(tensor.Float32, tensor.Normal(0, 1), tensor.NewRNG(2), 1, 3, 128, 128)
	if got := big.(Energy).LogDensity(xb).Shape(); !got.Equal(tensor.Shape{1}) {
		t.Fatalf("128x128 log density shape %v", got)
	}
}

// TestResNetEBMGradients checks first and second derivatives through the
// network against float64 central differences (CheckGrad's tolerances):
// d/dθ sum log p, and d/dθ sum v·∇x log p, which DSM and SSM need.
func TestResNetEBMGradients(t *testing.T) {
	for _, act := range []string{"elu", "shifted_softplus"} {
		t.Run(act, func(t *testing.T) {
			m := smallResNet(t, tensor.Float64, act)
			be := tensor.DefaultCPU()
			x := be.Empty(tensor.Float64, 2, 2, 8, 8)
			be.Random(x, tensor.Normal(0.5, 0.5), tensor.NewRNG(4))
			v := be.Empty(tensor.Float64, 2, 2, 8, 8)
			be.Random(v, tensor.Normal(0, 1), tensor.NewRNG(5))
			ps := m.Params()
			// A few tensors per check keep the central differences fast.
			pick := []*ad.Param{ps[0], ps[2], ps[len(ps)-4], ps[len(ps)-1]}
			inputs := []*tensor.Tensor{x}
			for _, p := range pick {
				inputs = append(inputs, p.Value)
			}
			first := func(vs []*ad.Var) *ad.Var { return ad.Sum(m.LogDensity(vs[0])) }
			if err := ad.CheckGrad(be, first, inputs, ad.CheckOptions{}); err != nil {
				t.Errorf("first order: %v", err)
			}
			second := func(vs []*ad.Var) *ad.Var {
				xv := vs[0]
				g := ad.Grad([]*ad.Var{ad.Sum(m.LogDensity(xv))}, []*ad.Var{xv}, ad.GradOptions{CreateGraph: true})[0]
				return ad.Sum(ad.Mul(xv.Tape().Const(v), g))
			}
			if err := ad.CheckGrad(be, second, inputs, ad.CheckOptions{}); err != nil {
				t.Errorf("second order: %v", err)
			}
		})
	}
}
