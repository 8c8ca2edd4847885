package tensor_test

import (
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/tensor/backendtest"
)

// TestCountingConformance: the counting wrapper forwards every primitive
// unchanged, so it passes the whole conformance suite.
func TestCountingConformance(t *testing.T) {
	backendtest.Run(t, tensor.NewCounting(tensor.NewCPU()))
}

func TestCountingGemmMACs(t *testing.T) {
	be := tensor.NewCounting(tensor.NewCPU())
	cases := []struct {
		transA, transB bool
		a, b, c        []int
		macs           int64
	}{
		{false, false, []int{3, 5}, []int{5, 7}, []int{3, 7}, 3 * 7 * 5},
		{true, false, []int{5, 3}, []int{5, 7}, []int{3, 7}, 3 * 7 * 5},
		{false, true, []int{3, 5}, []int{7, 5}, []int{3, 7}, 3 * 7 * 5},
		{true, true, []int{5, 3}, []int{7, 5}, []int{3, 7}, 3 * 7 * 5},
		{false, false, []int{4, 3, 5}, []int{5, 7}, []int{4, 3, 7}, 4 * 3 * 7 * 5}, // shared b
		{false, true, []int{4, 3, 5}, []int{4, 7, 5}, []int{4, 3, 7}, 4 * 3 * 7 * 5},
	}
	for _, tc := range cases {
		a := be.Zeros(tensor.Float32, tc.a...)
		b := be.Zeros(tensor.Float32, tc.b...)
		c := be.Zeros(tensor.Float32, tc.c...)
		be.Reset()
		be.Gemm(tc.transA, tc.transB, 1, a, b, 0, c)
		if got := be.Counts(); got.MACs != tc.macs || got.Calls != 1 || got.FLOPs() != 2*tc.macs {
			t.Errorf("gemm %v%v %v x %v: counts %+v, want %d MACs in 1 call", tc.transA, tc.transB, tc.a, tc.b, got, tc.macs)
		}
	}
}

// TestCountingConvMACs checks the convolution counts against a direct count
// of the taps that the definition sums (padding taps included, as im2col
// and cuDNN both do them).
func TestCountingConvMACs(t *testing.T) {
	be := tensor.NewCounting(tensor.NewCPU())
	n, c, h, w, o, kh, kw := 2, 3, 9, 8, 4, 3, 2
	p := tensor.ConvParams{StrideH: 2, StrideW: 1, PadH: 1, PadW: 0, DilationH: 1, DilationW: 2}
	oh, ow := p.OutSize(h, w, kh, kw)
	want := int64(n * o * oh * ow * c * kh * kw)
	x := be.Zeros(tensor.Float64, n, c, h, w)
	k := be.Zeros(tensor.Float64, o, c, kh, kw)
	y := be.Zeros(tensor.Float64, n, o, oh, ow)
	for name, f := range map[string]func(){
		"forward":     func() { be.Conv2D(y, x, k, p) },
		"input grad":  func() { be.Conv2DInputGrad(x, y, k, p) },
		"weight grad": func() { be.Conv2DWeightGrad(k, x, y, p) },
	} {
		be.Reset()
		f()
		if got := be.Counts().MACs; got != want {
			t.Errorf("%s: %d MACs, want %d", name, got, want)
		}
	}
}

func TestCountingElementwiseAndMoves(t *testing.T) {
	be := tensor.NewCounting(tensor.NewCPU())
	a := be.Zeros(tensor.Float32, 4, 6)
	row := be.Zeros(tensor.Float32, 1, 6)
	be.Reset()
	be.Unary(tensor.OpExp, a, a)          // 24
	be.Binary(tensor.OpAdd, a, a, row)    // 24 (broadcast: dst's elements)
	be.ReduceTo(tensor.ReduceSum, row, a) // 24 read
	be.Fill(row, 1)                       // 6
	half := be.Empty(tensor.Float32, 2, 6)
	be.Slice(half, a, 0, 2)    // 12 moved
	be.SetSlice(a, half, 0, 0) // 12 moved
	got := be.Counts()
	want := tensor.OpCounts{Elementwise: 24 + 24 + 24 + 6, Moved: 24, Calls: 6}
	if got != want {
		t.Fatalf("counts %+v, want %+v", got, want)
	}
	if d := got.Sub(want); d != (tensor.OpCounts{}) {
		t.Fatalf("Sub: %+v", d)
	}
	be.Reset()
	if got := be.Counts(); got != (tensor.OpCounts{}) {
		t.Fatalf("after Reset: %+v", got)
	}
}

// TestCountingPool: tensors made through the wrapper report it as their
// backend and go back to the wrapped pool on Release.
func TestCountingPool(t *testing.T) {
	inner := tensor.NewCPU()
	be := tensor.NewCounting(inner)
	base := inner.MemStats().InUseBytes
	x := be.Zeros(tensor.Float64, 3, 4)
	if x.Backend() != tensor.Backend(be) {
		t.Fatalf("Backend() = %v, want the wrapper", x.Backend())
	}
	if got := inner.MemStats().InUseBytes - base; got != 96 {
		t.Fatalf("in use after Zeros: %d bytes, want 96", got)
	}
	be.Release(x)
	if got := inner.MemStats().InUseBytes - base; got != 0 {
		t.Fatalf("in use after Release: %d bytes, want 0", got)
	}
	y := inner.Empty(tensor.Float32, 5)
	be.Release(y) // made by the wrapped backend directly
	if got := inner.MemStats().InUseBytes - base; got != 0 {
		t.Fatalf("in use after releasing an inner tensor: %d bytes, want 0", got)
	}
}
