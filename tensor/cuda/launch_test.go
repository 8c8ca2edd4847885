package cuda_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/tensor/cuda"
	"github.com/fdsm-go/fdsm/tensor/cuda/emu"
)

// TestLaunchShapeIndependence: every kernel's result is the same, bit for
// bit, whatever grid and block the backend picks (grid-stride loops,
// reductions in a fixed order): one thread in all, odd shapes, and the
// default.
func TestLaunchShapeIndependence(t *testing.T) {
	d, err := emu.New(emu.Options{})
	if !emu.Available {
		t.Skip("the emulated device needs cgo")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var ref [][]byte
	for _, o := range []cuda.Options{{BlockSize: 1, MaxBlocks: 1}, {BlockSize: 3, MaxBlocks: 5}, {BlockSize: 32, MaxBlocks: 2}, {}} {
		b, err := cuda.New(d, o)
		if err != nil {
			t.Fatal(err)
		}
		out := battery(b, tensor.Float32)
		out = append(out, battery(b, tensor.Float64)...)
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if ref == nil {
			ref = out
			continue
		}
		for i := range out {
			if !bytes.Equal(out[i], ref[i]) {
				t.Errorf("block %d, %d blocks: result %d differs from one thread's", o.BlockSize, o.MaxBlocks, i)
			}
		}
	}
}

// battery runs one call of most primitives on fixed inputs and returns the
// raw bytes of every result.
func battery(b *cuda.Backend, dt tensor.DType) [][]byte {
	rng := rand.New(rand.NewPCG(9, 9))
	in := func(shape ...int) *tensor.Tensor {
		v := make([]float64, tensor.Shape(shape).Numel())
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		return tensor.FromFloat64s(b, dt, shape, v)
	}
	var out [][]byte
	keep := func(ts ...*tensor.Tensor) {
		for _, t := range ts {
			raw := make([]byte, t.Bytes())
			b.ReadBytes(raw, t)
			out = append(out, raw)
		}
	}
	x, w := in(3, 4, 9, 10), in(5, 4, 3, 3)
	y := b.Empty(dt, 3, 5, 9, 10)
	p := tensor.Conv(1, 1, 1)
	b.Conv2D(y, x, w, p)
	dx, dw := b.Empty(dt, 3, 4, 9, 10), b.Empty(dt, 5, 4, 3, 3)
	b.Conv2DInputGrad(dx, y, w, p)
	b.Conv2DWeightGrad(dw, x, y, p)
	keep(y, dx, dw)
	for _, op := range []tensor.UnaryOp{tensor.OpTanh, tensor.OpSoftplus, tensor.OpSin} {
		u := b.Empty(dt, 3, 4, 9, 10)
		b.Unary(op, u, x)
		keep(u)
	}
	bias := in(1, 4, 1, 1)
	s := b.Empty(dt, 3, 4, 9, 10)
	b.Binary(tensor.OpMul, s, x, bias)
	keep(s)
	big := in(7, 3000)
	for _, to := range []tensor.Shape{{}, {7, 1}, {1, 3000}} {
		for _, op := range []tensor.ReduceOp{tensor.ReduceSum, tensor.ReduceMax} {
			r := b.Empty(dt, to...)
			b.ReduceTo(op, r, big)
			keep(r)
		}
	}
	ss := b.Empty(dt, 1)
	b.SumSquares(ss, []*tensor.Tensor{x, w, big})
	tr := b.Empty(dt, 10, 3, 9, 4)
	b.Transpose(tr, x, []int{3, 0, 2, 1})
	cat := b.Empty(dt, 3, 8, 9, 10)
	b.Concat(cat, []*tensor.Tensor{x, s}, 1)
	pool := b.Empty(dt, 3, 4, 5, 5)
	b.AvgPool2D(pool, x, tensor.PoolParams{Kernel: 3, Stride: 2, Pad: 1})
	padj := b.Empty(dt, 3, 4, 9, 10)
	b.AvgPool2DAdjoint(padj, pool, tensor.PoolParams{Kernel: 3, Stride: 2, Pad: 1})
	rnd := b.Empty(dt, 1001)
	b.Random(rnd, tensor.Normal(0, 1), tensor.NewRNG(5))
	keep(ss, tr, cat, pool, padj, rnd)
	g, m, v, st := in(40), b.Zeros(dt, 40), b.Zeros(dt, 40), b.Zeros(dt, 1)
	par := in(40)
	gate := tensor.FromFloat64s(b, dt, tensor.Shape{2}, []float64{0.5, 1})
	b.AdamStep(par, g, m, v, st, gate, tensor.AdamArgs{LR: 0.01, Beta1: 0.9, Beta2: 0.99, Eps: 1e-8})
	keep(par, m, v, st)
	if err := b.Sync(); err != nil {
		panic(fmt.Sprint(err))
	}
	return out
}
