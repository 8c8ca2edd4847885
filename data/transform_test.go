package data

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
)

func ramp(n int, scale float32) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i%97) * scale
	}
	return x
}

func TestTransformZeroPad(t *testing.T) {
	p := ZeroPad{To: 32}
	if got := p.OutShape([]int{1, 28, 28}); !slices.Equal(got, []int{1, 32, 32}) {
		t.Fatalf("OutShape = %v", got)
	}
	for _, bad := range [][]int{{28}, {1, 33, 28}, {1, 28, 40}} {
		if p.OutShape(bad) != nil {
			t.Errorf("OutShape(%v) should be nil", bad)
		}
	}
	// Two channels, odd differences: 3x5 -> 6x6 puts rows 1..3, columns 0..4.
	for _, c := range []struct{ shape []int }{{[]int{1, 28, 28}}, {[]int{2, 3, 5}}} {
		in := c.shape
		h, w := in[1], in[2]
		to := 32
		if h == 3 {
			to = 6
		}
		src := ramp(in[0]*h*w, 1)
		dst := make([]float32, in[0]*to*to)
		for i := range dst {
			dst[i] = -7 // must be overwritten
		}
		ZeroPad{To: to}.Apply(dst, src, in, nil)
		top, left := (to-h)/2, (to-w)/2
		for ch := range in[0] {
			for y := range to {
				for x := range to {
					want := float32(0)
					if y >= top && y < top+h && x >= left && x < left+w {
						want = src[ch*h*w+(y-top)*w+x-left]
					}
					if got := dst[ch*to*to+y*to+x]; got != want {
						t.Fatalf("%v: [%d,%d,%d] = %v, want %v", in, ch, y, x, got, want)
					}
				}
			}
		}
	}
	if top, left := (32-28)/2, (32-28)/2; top != 2 || left != 2 {
		t.Fatal("MNIST padding is not 2 each side")
	}
}

func TestTransformHFlip(t *testing.T) {
	shape := []int{2, 3, 4}
	src := ramp(24, 1)
	for seed := range uint64(20) {
		ref := tensor.NewRNG(seed)
		flip := ref.Float64() < 0.3
		dst := make([]float32, 24)
		RandomHFlip{P: 0.3}.Apply(dst, src, shape, tensor.NewRNG(seed))
		for r := range 6 {
			for x := range 4 {
				want := src[r*4+x]
				if flip {
					want = src[r*4+3-x]
				}
				if dst[r*4+x] != want {
					t.Fatalf("seed %d flip %v: row %d col %d = %v, want %v", seed, flip, r, x, dst[r*4+x], want)
				}
			}
		}
		// In place gives the same.
		in := slices.Clone(src)
		RandomHFlip{P: 0.3}.Apply(in, in, shape, tensor.NewRNG(seed))
		if !slices.Equal(in, dst) {
			t.Fatalf("seed %d: in-place flip differs", seed)
		}
	}
	odd := []float32{1, 2, 3}
	RandomHFlip{P: 1}.Apply(odd, odd, []int{1, 3}, tensor.NewRNG(1))
	if !slices.Equal(odd, []float32{3, 2, 1}) {
		t.Fatalf("odd width flip = %v", odd)
	}
	if (RandomHFlip{}).prob() != 0.5 || (RandomHFlip{}).OutShape([]int{5}) != nil {
		t.Fatal("zero P should mean 0.5; a vector cannot be flipped")
	}
}

func TestTransformDequantize(t *testing.T) {
	src := []float32{0, 1, 0.5, 0.25, 1.0 / 255, 254.0 / 255}
	for _, mode := range []string{DequantizeNICE, DequantizeNCSN} {
		dst := make([]float32, len(src))
		Dequantize{Mode: mode}.Apply(dst, src, []int{len(src)}, tensor.NewRNG(3))
		ref := tensor.NewRNG(3)
		for i, x := range src {
			u := ref.Float64()
			var want float64
			if mode == DequantizeNICE {
				want = math.Min(math.Max(float64(x)+(u-0.5)/256, 1e-3), 1-1e-3)
			} else {
				want = float64(x)*255/256 + u/256
			}
			if dst[i] != float32(want) {
				t.Fatalf("%s: x=%v -> %v, want %v", mode, x, dst[i], want)
			}
			if dst[i] < 0 || dst[i] > 1 {
				t.Fatalf("%s: %v left [0, 1]", mode, dst[i])
			}
		}
	}
	if (Dequantize{}).Validate() == nil || (Dequantize{Mode: "nice", Levels: 1}).Validate() == nil {
		t.Fatal("missing mode / one level accepted")
	}
}

func TestTransformLogitCentreScale(t *testing.T) {
	src := []float32{0.001, 0.2, 0.5, 0.9, 0.999, 0.3}
	dst := make([]float32, 6)
	for _, a := range []float64{0, 0.05} {
		Logit{Alpha: a}.Apply(dst, src, []int{6}, nil)
		for i, x := range src {
			y := a + (1-2*a)*float64(x)
			if want := float32(math.Log(y / (1 - y))); dst[i] != want {
				t.Fatalf("logit(%v, alpha %v) = %v, want %v", x, a, dst[i], want)
			}
		}
	}
	Centre{Mean: 0.5}.Apply(dst, src, []int{6}, nil)
	for i, x := range src {
		if want := float32(float64(x) - 0.5); dst[i] != want {
			t.Fatalf("centre: %v", dst)
		}
	}
	c := Centre{Means: []float64{0.1, 0.2, 0.3}}
	if c.OutShape([]int{2, 3}) != nil || c.OutShape([]int{3, 2}) == nil {
		t.Fatal("per-channel means must match the first axis")
	}
	c.Apply(dst, src, []int{3, 2}, nil)
	for i, x := range src {
		if want := float32(float64(x) - c.Means[i/2]); dst[i] != want {
			t.Fatalf("per-channel centre [%d] = %v, want %v", i, dst[i], want)
		}
	}
	Scale01{}.Apply(dst, src, []int{6}, nil)
	if !slices.Equal(dst, src) {
		t.Fatal("scale01 must copy")
	}
}

// applyAll runs ts on one sample, allocating freely (the reference path).
func applyAll(t *testing.T, ts []Transform, x []float32, shape []int, rng *tensor.RNG) ([]float32, []int) {
	t.Helper()
	for _, tr := range ts {
		out := tr.OutShape(shape)
		y := make([]float32, loaderNumel(out))
		tr.Apply(y, x, shape, rng)
		x, shape = y, out
	}
	return x, shape
}

func TestTransformCompositionAndDeterminism(t *testing.T) {
	ts, err := ParseTransforms([]string{"pad:32", "hflip", "dequantize:nice", " logit "})
	if err != nil {
		t.Fatal(err)
	}
	out, err := OutShapeOf(ts, []int{1, 28, 28})
	if err != nil || !slices.Equal(out, []int{1, 32, 32}) {
		t.Fatalf("OutShapeOf = %v, %v", out, err)
	}
	src := ramp(784, 1.0/96)
	a, shape := applyAll(t, ts, src, []int{1, 28, 28}, tensor.NewRNG(5))
	b, _ := applyAll(t, ts, src, []int{1, 28, 28}, tensor.NewRNG(5))
	c, _ := applyAll(t, ts, src, []int{1, 28, 28}, tensor.NewRNG(6))
	if !slices.Equal(a, b) || slices.Equal(a, c) || !slices.Equal(shape, out) {
		t.Fatal("same seed must give the same sample, another seed another")
	}
	// By hand: padding is zero, so it dequantises into [1e-3, 1/256+...] and
	// the logit of the clamped value is finite everywhere.
	for i, v := range a {
		if math.IsInf(float64(v), 0) || math.IsNaN(float64(v)) {
			t.Fatalf("[%d] = %v", i, v)
		}
	}
	if _, err := OutShapeOf([]Transform{ZeroPad{To: 16}}, []int{1, 28, 28}); err == nil ||
		!strings.Contains(err.Error(), "pad:16") {
		t.Fatalf("pad smaller than the image: %v", err)
	}
}

func TestTransformNoAllocs(t *testing.T) {
	shape := []int{3, 28, 28}
	src := ramp(3*28*28, 1.0/97)
	rng := tensor.NewRNG(1)
	for _, tr := range []Transform{ZeroPad{To: 32}, RandomHFlip{}, Dequantize{Mode: "nice"},
		Dequantize{Mode: "ncsn"}, Logit{Alpha: 0.05}, Centre{Mean: 0.5},
		Centre{Means: []float64{0.4, 0.5, 0.6}}, Scale01{}} {
		dst := make([]float32, loaderNumel(tr.OutShape(shape)))
		if n := testing.AllocsPerRun(20, func() { tr.Apply(dst, src, shape, rng) }); n != 0 {
			t.Errorf("%v: %v allocations per Apply", tr, n)
		}
	}
}

func TestParseTransforms(t *testing.T) {
	specs := []string{"pad:32", "hflip:0.25", "dequantize:ncsn:256", "logit:0.05", "centre:0.5", "centre:0.1,0.2,0.3", "scale01"}
	ts, err := ParseTransforms(specs)
	if err != nil {
		t.Fatal(err)
	}
	for i, tr := range ts {
		if got := tr.(interface{ String() string }).String(); got != specs[i] {
			t.Errorf("String() = %q, want %q", got, specs[i])
		}
	}
	ts, _ = ParseTransforms([]string{"hflip", "dequantize:nice", "logit", "center"})
	if ts[0] != (RandomHFlip{P: 0.5}) || ts[1].(Dequantize) != (Dequantize{Mode: "nice", Levels: 256}) ||
		ts[2] != (Logit{}) || ts[3].(Centre).Mean != 0.5 {
		t.Fatalf("defaults: %#v", ts)
	}
	for _, bad := range []string{"blur", "pad", "pad:x", "pad:0", "hflip:2", "hflip:x", "dequantize",
		"dequantize:bogus", "dequantize:nice:x", "logit:0.7", "centre:a,b", "scale01:1", ""} {
		_, err := ParseTransforms([]string{"pad:32", bad})
		if err == nil {
			t.Errorf("%q accepted", bad)
			continue
		}
		if !strings.Contains(err.Error(), "transform 1") {
			t.Errorf("%q: error does not name the entry: %v", bad, err)
		}
	}
	_, err = ParseTransforms([]string{"blur"})
	if err == nil || !strings.Contains(err.Error(), "valid: pad:N, hflip") {
		t.Fatalf("unknown name should list the valid ones: %v", err)
	}
}
