package tensor

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// layoutDTypes are the dtypes every layout test runs in.
var layoutDTypes = []DType{Float32, Float64}

// iotaTensor returns a tensor whose elements are 0, 1, 2, ... (exact in both
// dtypes for the sizes used here), so any misplaced element shows.
func iotaTensor(c *CPU, dt DType, shape ...int) *Tensor {
	n := Shape(shape).Numel()
	v := make([]float64, n)
	for i := range v {
		v[i] = float64(i)
	}
	return FromFloat64s(c, dt, shape, v)
}

// unravel writes the row-major multi-index of flat index k into idx.
func unravel(k int, shape Shape, idx []int) {
	for a := len(shape) - 1; a >= 0; a-- {
		idx[a] = k % shape[a]
		k /= shape[a]
	}
}

// ravel is the inverse of unravel.
func ravel(idx []int, shape Shape) int {
	k := 0
	for a, i := range idx {
		k = k*shape[a] + i
	}
	return k
}

// naiveTranspose is the reference: for every dst element, compute its source
// element by index arithmetic alone.
func naiveTranspose(x []float64, shape Shape, perm []int) []float64 {
	r := len(shape)
	ds := make(Shape, r)
	for i, a := range perm {
		ds[i] = shape[a]
	}
	out := make([]float64, len(x))
	di, si := make([]int, r), make([]int, r)
	for k := range out {
		unravel(k, ds, di)
		for i, a := range perm {
			si[a] = di[i]
		}
		out[k] = x[ravel(si, shape)]
	}
	return out
}

func permuted(s Shape, perm []int) Shape {
	out := make(Shape, len(perm))
	for i, a := range perm {
		out[i] = s[a]
	}
	return out
}

func equalFloats(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d elements, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: element %d is %v, want %v", what, i, got[i], want[i])
		}
	}
}

// mustPanic runs f and fails unless it panics with a message containing every
// one of substrs.
func mustPanic(t *testing.T, substrs []string, f func()) {
	t.Helper()
	msg := func() (msg string) {
		defer func() {
			if r := recover(); r != nil {
				msg = fmt.Sprint(r)
			}
		}()
		f()
		return ""
	}()
	if msg == "" {
		t.Fatalf("no panic, want one mentioning %q", substrs)
	}
	for _, s := range substrs {
		if !strings.Contains(msg, s) {
			t.Fatalf("panic %q does not mention %q", msg, s)
		}
	}
}

func checkTranspose(t *testing.T, c *CPU, dt DType, shape Shape, perm []int) {
	t.Helper()
	x := iotaTensor(c, dt, shape...)
	dst := c.Empty(dt, permuted(shape, perm)...)
	c.Transpose(dst, x, perm)
	what := fmt.Sprintf("%s transpose %v by %v", dt, shape, perm)
	equalFloats(t, what, dst.ToFloat64s(), naiveTranspose(x.ToFloat64s(), shape, perm))

	// The inverse permutation must restore x exactly.
	inv := make([]int, len(perm))
	for i, a := range perm {
		inv[a] = i
	}
	back := c.Empty(dt, shape...)
	c.Transpose(back, dst, inv)
	equalFloats(t, what+" then inverse", back.ToFloat64s(), x.ToFloat64s())
	c.Release(x)
	c.Release(dst)
	c.Release(back)
}

func TestTransposeRandom(t *testing.T) {
	c := NewCPU()
	rng := rand.New(rand.NewPCG(1, 2))
	trials := 60
	if testing.Short() {
		trials = 20
	}
	for _, dt := range layoutDTypes {
		for r := 1; r <= 5; r++ {
			for trial := 0; trial < trials; trial++ {
				shape := make(Shape, r)
				for i := range shape {
					// Mostly small extents, with unit axes (which the plan
					// drops) and some longer ones that span several tiles.
					switch rng.IntN(6) {
					case 0:
						shape[i] = 1
					case 1:
						shape[i] = 33 + rng.IntN(40)
					default:
						shape[i] = 2 + rng.IntN(5)
					}
				}
				if shape.Numel() > 1<<18 {
					continue
				}
				checkTranspose(t, c, dt, shape, rng.Perm(r))
			}
		}
	}
}

func TestTransposeCases(t *testing.T) {
	c := NewCPU()
	cases := []struct {
		shape Shape
		perm  []int
	}{
		{Shape{}, []int{}},                        // scalar
		{Shape{7}, []int{0}},                      // rank 1
		{Shape{1, 1}, []int{1, 0}},                // all unit axes
		{Shape{5, 1}, []int{1, 0}},                // a transpose that is a copy
		{Shape{3, 4}, []int{1, 0}},                // smaller than a tile
		{Shape{64, 96}, []int{1, 0}},              // whole tiles
		{Shape{517, 263}, []int{1, 0}},            // ragged tiles, parallel
		{Shape{100000, 3}, []int{1, 0}},           // tall and thin, parallel
		{Shape{3, 100000}, []int{1, 0}},           // short and wide
		{Shape{4, 37, 41}, []int{0, 2, 1}},        // batched 2-D
		{Shape{2, 3, 4, 5}, []int{2, 3, 0, 1}},    // merges to 2-D
		{Shape{2, 1, 3, 4}, []int{0, 2, 3, 1}},    // merges to a copy
		{Shape{6, 50, 7, 40}, []int{1, 0, 2, 3}},  // keeps last axes: row copies, parallel
		{Shape{3, 70, 130, 5}, []int{3, 1, 0, 2}}, // general, parallel
		{Shape{2, 3, 2, 3, 2, 3, 2}, []int{6, 5, 4, 3, 2, 1, 0}},
		{Shape{2, 3, 1, 2, 3, 2, 3, 2}, []int{7, 0, 6, 1, 5, 2, 4, 3}}, // MaxDims
		{Shape{0, 3}, []int{1, 0}},                                     // empty
		{Shape{4, 0, 2}, []int{2, 0, 1}},
	}
	for _, dt := range layoutDTypes {
		for _, tc := range cases {
			checkTranspose(t, c, dt, tc.shape, tc.perm)
		}
	}
}

func TestTransposeNegativePerm(t *testing.T) {
	c := NewCPU()
	x := iotaTensor(c, Float64, 2, 3, 4)
	dst := c.Empty(Float64, 2, 4, 3)
	c.Transpose(dst, x, []int{0, -1, -2})
	equalFloats(t, "perm [0 -1 -2]", dst.ToFloat64s(), naiveTranspose(x.ToFloat64s(), x.shape, []int{0, 2, 1}))
}

func TestTransposePanics(t *testing.T) {
	c := NewCPU()
	x := c.Zeros(Float32, 2, 3, 4)
	mustPanic(t, []string{"[2 3 4]", "[4 3 2]", "dst axis 0 should be 2"}, func() {
		c.Transpose(c.Zeros(Float32, 4, 3, 2), x, []int{0, 1, 2})
	})
	mustPanic(t, []string{"[2 3 4]", "perm has 2 entries for rank 3"}, func() {
		c.Transpose(c.Zeros(Float32, 3, 2, 4), x, []int{1, 0})
	})
	mustPanic(t, []string{"axis 1 repeated"}, func() {
		c.Transpose(c.Zeros(Float32, 3, 3, 4), x, []int{1, 1, 2})
	})
	mustPanic(t, []string{"axis 3 out of range"}, func() {
		c.Transpose(c.Zeros(Float32, 2, 3, 4), x, []int{0, 1, 3})
	})
	mustPanic(t, []string{"ranks differ"}, func() {
		c.Transpose(c.Zeros(Float32, 24), x, []int{0, 1, 2})
	})
	mustPanic(t, []string{"transpose mixes float32 and float64"}, func() {
		c.Transpose(c.Zeros(Float32, 2, 3, 4), c.Zeros(Float64, 2, 3, 4), []int{0, 1, 2})
	})
	mustPanic(t, []string{"aliases"}, func() {
		c.Transpose(x.Reshape(2, 4, 3), x, []int{0, 2, 1})
	})
}

// randomShape returns a shape of rank r with extents in [1, 5].
func randomShape(rng *rand.Rand, r int) Shape {
	s := make(Shape, r)
	for i := range s {
		s[i] = 1 + rng.IntN(5)
	}
	return s
}

// TestConcatSliceRoundTrip cuts a tensor into random pieces along each axis
// (zero-size pieces included) with Slice, then joins them with Concat, which
// must give back the original exactly. It also checks each piece against the
// index-arithmetic definition of a slice.
func TestConcatSliceRoundTrip(t *testing.T) {
	c := NewCPU()
	rng := rand.New(rand.NewPCG(3, 4))
	for _, dt := range layoutDTypes {
		for r := 1; r <= 4; r++ {
			for trial := 0; trial < 10; trial++ {
				shape := randomShape(rng, r)
				x := iotaTensor(c, dt, shape...)
				xv := x.ToFloat64s()
				for ax := 0; ax < r; ax++ {
					// Cut points, sorted, possibly repeated (zero-size piece).
					cuts := []int{0}
					for range rng.IntN(4) {
						cuts = append(cuts, rng.IntN(shape[ax]+1))
					}
					cuts = append(cuts, shape[ax])
					sortInts(cuts)
					var pieces []*Tensor
					for i := 0; i+1 < len(cuts); i++ {
						ps := shape.Clone()
						ps[ax] = cuts[i+1] - cuts[i]
						p := c.Empty(dt, ps...)
						// Alternate negative and positive axis numbering.
						axis := ax
						if i%2 == 1 {
							axis = ax - r
						}
						c.Slice(p, x, axis, cuts[i])
						checkSliceRef(t, p.ToFloat64s(), xv, shape, ax, cuts[i], ps)
						pieces = append(pieces, p)
					}
					joined := c.Empty(dt, shape...)
					c.Concat(joined, pieces, ax-r*(ax%2)) // ax or ax-r
					equalFloats(t, fmt.Sprintf("%s concat of slices of %v at %v along %d", dt, shape, cuts, ax),
						joined.ToFloat64s(), xv)
				}
			}
		}
	}
}

func sortInts(v []int) {
	for i := 1; i < len(v); i++ {
		for j := i; j > 0 && v[j] < v[j-1]; j-- {
			v[j], v[j-1] = v[j-1], v[j]
		}
	}
}

// checkSliceRef checks piece == x[..., start:start+ps[ax], ...] elementwise.
func checkSliceRef(t *testing.T, piece, x []float64, shape Shape, ax, start int, ps Shape) {
	t.Helper()
	idx := make([]int, len(ps))
	for k, v := range piece {
		unravel(k, ps, idx)
		idx[ax] += start
		if want := x[ravel(idx, shape)]; v != want {
			t.Fatalf("slice %v of %v along %d at %d: element %d is %v, want %v", ps, shape, ax, start, k, v, want)
		}
	}
}

func TestConcatZeroSize(t *testing.T) {
	c := NewCPU()
	a := iotaTensor(c, Float32, 2, 3)
	e := c.Empty(Float32, 2, 0)
	dst := c.Empty(Float32, 2, 3)
	c.Concat(dst, []*Tensor{e, a, e}, 1)
	equalFloats(t, "concat with empty pieces", dst.ToFloat64s(), a.ToFloat64s())

	// Everything empty, and no inputs at all for an empty axis.
	c.Concat(c.Empty(Float32, 0, 3), []*Tensor{c.Empty(Float32, 0, 3), c.Empty(Float32, 0, 3)}, 0)
	c.Concat(c.Empty(Float64, 2, 0), nil, -1)
	c.Slice(c.Empty(Float32, 2, 0), a, 1, 3) // empty window at the end
}

func TestConcatLarge(t *testing.T) {
	// Large enough for parallelFor to split the rows.
	c := NewCPU()
	a := iotaTensor(c, Float64, 300, 200, 2)
	b := iotaTensor(c, Float64, 300, 100, 2)
	dst := c.Empty(Float64, 300, 300, 2)
	c.Concat(dst, []*Tensor{a, b}, 1)
	av, bv, dv := a.ToFloat64s(), b.ToFloat64s(), dst.ToFloat64s()
	for i := 0; i < 300; i++ {
		equalFloats(t, "large concat, a part", dv[i*600:i*600+400], av[i*400:i*400+400])
		equalFloats(t, "large concat, b part", dv[i*600+400:i*600+600], bv[i*200:i*200+200])
	}
}

// TestSetSlice writes src into a window of a sentinel-filled dst and checks,
// element by element, that the window holds src and everything else is
// untouched.
func TestSetSlice(t *testing.T) {
	c := NewCPU()
	rng := rand.New(rand.NewPCG(5, 6))
	const sentinel = -7
	for _, dt := range layoutDTypes {
		for r := 1; r <= 4; r++ {
			for trial := 0; trial < 10; trial++ {
				shape := randomShape(rng, r)
				ax := rng.IntN(r)
				start := rng.IntN(shape[ax] + 1)
				ss := shape.Clone()
				ss[ax] = rng.IntN(shape[ax] - start + 1)
				src := iotaTensor(c, dt, ss...)
				dst := c.Empty(dt, shape...)
				c.Fill(dst, sentinel)
				axis := ax
				if trial%2 == 1 {
					axis -= r
				}
				c.SetSlice(dst, src, axis, start)
				sv, dv := src.ToFloat64s(), dst.ToFloat64s()
				idx := make([]int, r)
				for k, v := range dv {
					unravel(k, shape, idx)
					want := float64(sentinel)
					if i := idx[ax]; i >= start && i < start+ss[ax] {
						idx[ax] -= start
						want = sv[ravel(idx, ss)]
					}
					if v != want {
						t.Fatalf("%s setslice %v into %v along %d at %d: element %d is %v, want %v",
							dt, ss, shape, ax, start, k, v, want)
					}
				}
			}
		}
	}
}

func TestConcatSlicePanics(t *testing.T) {
	c := NewCPU()
	x := c.Zeros(Float32, 2, 3, 4)

	// Concat.
	mustPanic(t, []string{"concat", "axis 3 out of range", "[2 3 4]"}, func() {
		c.Concat(c.Zeros(Float32, 2, 3, 4), []*Tensor{x}, 3)
	})
	mustPanic(t, []string{"concat", "axis -4 out of range"}, func() {
		c.Concat(c.Zeros(Float32, 2, 3, 4), []*Tensor{x}, -4)
	})
	mustPanic(t, []string{"input 1 x[2 3 5] does not match dst[2 6 4]"}, func() {
		c.Concat(c.Zeros(Float32, 2, 6, 4), []*Tensor{x, c.Zeros(Float32, 2, 3, 5)}, 1)
	})
	mustPanic(t, []string{"input 0 x[3 4] does not match"}, func() {
		c.Concat(c.Zeros(Float32, 2, 3, 4), []*Tensor{c.Zeros(Float32, 3, 4)}, 0)
	})
	mustPanic(t, []string{"extents sum to 6", "dst[2 7 4] has 7"}, func() {
		c.Concat(c.Zeros(Float32, 2, 7, 4), []*Tensor{x, x}, 1)
	})
	mustPanic(t, []string{"concat mixes float32 and float64"}, func() {
		c.Concat(c.Zeros(Float32, 2, 6, 4), []*Tensor{x, c.Zeros(Float64, 2, 3, 4)}, 1)
	})

	// Slice.
	mustPanic(t, []string{"slice", "start 2 along axis 1", "part[2 2 4]", "whole[2 3 4]"}, func() {
		c.Slice(c.Zeros(Float32, 2, 2, 4), x, 1, 2)
	})
	mustPanic(t, []string{"slice", "start -1"}, func() {
		c.Slice(c.Zeros(Float32, 2, 2, 4), x, 1, -1)
	})
	mustPanic(t, []string{"slice", "part[2 2 5]"}, func() {
		c.Slice(c.Zeros(Float32, 2, 2, 5), x, 1, 0)
	})
	mustPanic(t, []string{"slice axis 5 out of range for shape [2 3 4]"}, func() {
		c.Slice(c.Zeros(Float32, 2, 2, 4), x, 5, 0)
	})
	mustPanic(t, []string{"slice", "part[6]"}, func() {
		c.Slice(c.Zeros(Float32, 6), x, 0, 0)
	})

	// SetSlice.
	mustPanic(t, []string{"setslice", "start 3 along axis -1", "part[2 3 2]", "whole[2 3 4]"}, func() {
		c.SetSlice(x, c.Zeros(Float32, 2, 3, 2), -1, 3)
	})
	mustPanic(t, []string{"setslice", "part[3 3 2]"}, func() {
		c.SetSlice(x, c.Zeros(Float32, 3, 3, 2), 2, 0)
	})
	mustPanic(t, []string{"setslice mixes float32 and float64"}, func() {
		c.SetSlice(x, c.Zeros(Float64, 2, 3, 2), 2, 0)
	})
}

// BenchmarkTranspose2D measures a float32 1024x1024 transpose; GB/s counts
// the bytes read plus the bytes written.
func BenchmarkTranspose2D(b *testing.B) {
	c := NewCPU()
	const n = 1024
	x := c.Zeros(Float32, n, n)
	dst := c.Empty(Float32, n, n)
	perm := []int{1, 0}
	bytes := 2 * n * n * 4
	b.SetBytes(int64(bytes))
	for b.Loop() {
		c.Transpose(dst, x, perm)
	}
	b.ReportMetric(float64(bytes)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}
