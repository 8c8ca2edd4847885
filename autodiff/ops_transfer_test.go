package autodiff

import (
	"math"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/device"
	"github.com/fdsm-go/fdsm/tensor"
)

// onto returns a copy of t on be.
func onto(be tensor.Backend, t *tensor.Tensor) *tensor.Tensor {
	y := be.Empty(t.DType(), t.Shape()...)
	CopyAcross(y, t)
	return y
}

// TestOpsRefuseMixedDevices: an operation on Vars of two devices is a
// clear error that names both and the way out.
func TestOpsRefuseMixedDevices(t *testing.T) {
	a, b := tensor.NewCPU(), tensor.NewCPU()
	tp := NewTape(a)
	x, y := tp.Leaf(onto(a, rnd(1, 1, 0, 3))), tp.Leaf(onto(b, rnd(2, 1, 0, 3)))
	defer func() {
		msg, _ := recover().(string)
		if !strings.Contains(msg, "add mixes tensors") || !strings.Contains(msg, "autodiff.To") {
			t.Fatalf("panic %q, want the mixed devices named", msg)
		}
	}()
	Add(x, y)
}

// twoDeviceEnergy is mlpEnergy with its first layer on x's device and the
// rest on another: ps holds the weights, each on the device it is used on.
func twoDeviceEnergy(x *Var, ps []*Var, second tensor.Backend) *Var {
	h := To(Softplus(Linear(x, ps[0], ps[1])), second)
	h = Softplus(Linear(h, ps[2], ps[3]))
	return Reshape(Linear(h, ps[4], ps[5]), -1)
}

// TestTransferGradients: an energy split over two devices by To gives, in
// float64, bit for bit the one-device values of v·∇x(v·∇x E) and of its
// weight gradients (third derivatives through the transfer), each weight's
// gradient on the weight's device; for a pair of CPU devices and for a
// CPU and a simulated device.
func TestTransferGradients(t *testing.T) {
	const n, d, h = 3, 4, 5
	xt, vt := rnd(40, 1, 0, n, d), rnd(41, 1, 0, n, d)
	ws := mlpParams(42, d, h)
	one := func() ([]float64, [][]float64) {
		tp := NewTape(testBE)
		ps := make([]*Var, len(ws))
		params := make([]*Param, len(ws))
		for i, w := range ws {
			params[i] = NewParam("w", onto(testBE, w))
			ps[i] = tp.Param(params[i])
		}
		out := vHv(tp.Leaf(onto(testBE, xt)), tp.Const(onto(testBE, vt)), ps, true)
		Backward(out, params)
		gs := make([][]float64, len(params))
		for i, p := range params {
			gs[i] = p.Grad.ToFloat64s()
		}
		return out.Value().ToFloat64s(), gs
	}
	wantOut, wantGrads := one()
	sim, err := device.Open("devsim:6")
	if err != nil {
		t.Fatal(err)
	}
	for _, second := range []tensor.Backend{tensor.NewCPU(), sim} {
		var first tensor.Backend = tensor.NewCPU()
		tp := NewTape(first)
		params := make([]*Param, len(ws))
		ps := make([]*Var, len(ws))
		for i, w := range ws {
			be := first
			if i >= 2 {
				be = second
			}
			params[i] = NewParam("w", onto(be, w))
			ps[i] = tp.Param(params[i])
		}
		x := tp.Leaf(onto(first, xt))
		v := tp.Const(onto(first, vt))
		e := Sum(twoDeviceEnergy(x, ps, second))
		g := Grad([]*Var{e}, []*Var{x}, GradOptions{CreateGraph: true})[0]
		hv := Grad([]*Var{Sum(Mul(v, g))}, []*Var{x}, GradOptions{CreateGraph: true})[0]
		out := Sum(Mul(v, hv))
		Backward(out, params)
		if got := out.Value().ToFloat64s(); math.Float64bits(got[0]) != math.Float64bits(wantOut[0]) {
			t.Fatalf("%s: v·∇x(v·∇x E) = %v across devices, %v on one", second.Name(), got[0], wantOut[0])
		}
		for i, p := range params {
			if p.Grad.Backend() != p.Value.Backend() {
				t.Fatalf("%s: gradient %d on %s, its weight on %s", second.Name(), i, p.Grad.Backend().Name(), p.Value.Backend().Name())
			}
			for k, gv := range p.Grad.ToFloat64s() {
				if math.Float64bits(gv) != math.Float64bits(wantGrads[i][k]) {
					t.Fatalf("%s: weight %d gradient %d is %v across devices, %v on one", second.Name(), i, k, gv, wantGrads[i][k])
				}
			}
		}
		tp.Reset()
	}
}
