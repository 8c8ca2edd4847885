package backendtest

import (
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
)

// Memory: Empty, Zeros, Release and MemStats.
func testMemory(t *testing.T, b tensor.Backend, dt tensor.DType) {
	t.Run("ResetPeak", func(t *testing.T) {
		x := b.Empty(dt, 1000)
		b.Release(x)
		b.ResetPeak()
		s := b.MemStats()
		if s.PeakBytes != s.InUseBytes {
			t.Fatalf("after ResetPeak: peak %d, in use %d", s.PeakBytes, s.InUseBytes)
		}
		y := b.Empty(dt, 1000)
		if got := b.MemStats().PeakBytes; got < s.InUseBytes+int64(1000*dt.Size()) {
			t.Errorf("peak %d after taking %d bytes on top of %d", got, 1000*dt.Size(), s.InUseBytes)
		}
		b.Release(y)
	})
	t.Run("Shapes", func(t *testing.T) {
		for _, s := range []tensor.Shape{{}, {1}, {5}, {0}, {2, 0, 3}, {3, 4}, {2, 3, 4, 5}, {1, 2, 1, 2, 1, 2, 1, 2}} {
			for _, zeros := range []bool{false, true} {
				var x *tensor.Tensor
				if zeros {
					x = b.Zeros(dt, s...)
				} else {
					x = b.Empty(dt, s...)
				}
				what := fmt.Sprintf("Empty(%v)", s)
				if zeros {
					what = fmt.Sprintf("Zeros(%v)", s)
				}
				checkShape(t, what, x, dt, s)
				if x.Backend() != b {
					t.Errorf("%s: Backend() is %v, want the backend that made it", what, x.Backend())
				}
				if zeros {
					checkExact(t, what, s, x.ToFloat64s(), make([]float64, s.Numel()))
				}
				b.Release(x)
			}
		}
	})

	// A dirty buffer released to the pool must come back zeroed from Zeros,
	// and the hand-out must count as a reuse. 4093 (prime) elements keeps
	// this size apart from buffers of other subtests.
	t.Run("ZerosReusesDirtyBuffer", func(t *testing.T) {
		const n = 4093
		for _, dirty := range []float64{7, math.NaN()} {
			x := b.Empty(dt, n)
			b.Fill(x, dirty)
			b.Release(x)
			before := b.MemStats()
			z := b.Zeros(dt, n)
			after := b.MemStats()
			if after.Reuses != before.Reuses+1 || after.Allocs != before.Allocs {
				t.Errorf("Zeros(%d) right after releasing a %d-element tensor: Reuses %d -> %d, Allocs %d -> %d; want one reuse, no allocation",
					n, n, before.Reuses, after.Reuses, before.Allocs, after.Allocs)
			}
			checkExact(t, fmt.Sprintf("Zeros after Release of a buffer filled with %v", dirty), z.Shape(), z.ToFloat64s(), make([]float64, n))
			b.Release(z)
		}
		// The same with a different shape of the same size: the reused
		// buffer must take the new shape.
		x := b.Empty(dt, 3, 1361) // 4083 elements
		b.Fill(x, 5)
		b.Release(x)
		z := b.Zeros(dt, 1361, 3)
		checkShape(t, "Zeros(1361, 3) after releasing a [3 1361] tensor", z, dt, tensor.Shape{1361, 3})
		checkExact(t, "Zeros(1361, 3) after releasing a dirty [3 1361] tensor", z.Shape(), z.ToFloat64s(), make([]float64, 4083))
		b.Release(z)
	})

	// InUseBytes rises by at least the tensor's bytes on Empty and returns
	// exactly to its old value on Release, the bytes moving to PooledBytes;
	// every hand-out is either an allocation or a reuse; a second Empty of the
	// released size is a reuse.
	t.Run("Stats", func(t *testing.T) {
		const rows, cols = 3, 1019
		bytes := int64(rows * cols * dt.Size())
		s0 := b.MemStats()
		x := b.Empty(dt, rows, cols)
		s1 := b.MemStats()
		grew := s1.InUseBytes - s0.InUseBytes
		if grew < bytes {
			t.Errorf("Empty(%d, %d) raised InUseBytes by %d, want at least %d", rows, cols, grew, bytes)
		}
		if got := (s1.Allocs + s1.Reuses) - (s0.Allocs + s0.Reuses); got != 1 {
			t.Errorf("one Empty changed Allocs+Reuses by %d, want 1 (stats %+v -> %+v)", got, s0, s1)
		}
		if s1.PeakBytes < s1.InUseBytes || s1.PeakBytes < s0.PeakBytes {
			t.Errorf("PeakBytes %d below InUseBytes %d or below its earlier %d", s1.PeakBytes, s1.InUseBytes, s0.PeakBytes)
		}
		b.Release(x)
		s2 := b.MemStats()
		if s2.InUseBytes != s0.InUseBytes {
			t.Errorf("InUseBytes after Release is %d, want %d as before the Empty", s2.InUseBytes, s0.InUseBytes)
		}
		if moved := s2.PooledBytes - s1.PooledBytes; moved != grew {
			t.Errorf("Release moved %d bytes to PooledBytes, want the %d it took from InUseBytes", moved, grew)
		}
		if s2.PeakBytes != s1.PeakBytes {
			t.Errorf("Release changed PeakBytes %d -> %d", s1.PeakBytes, s2.PeakBytes)
		}
		y := b.Empty(dt, rows, cols)
		s3 := b.MemStats()
		if s3.Reuses != s2.Reuses+1 || s3.Allocs != s2.Allocs {
			t.Errorf("Empty of a just-released size: Reuses %d -> %d, Allocs %d -> %d; want one reuse, no allocation",
				s2.Reuses, s3.Reuses, s2.Allocs, s3.Allocs)
		}
		if s3.InUseBytes != s1.InUseBytes || s3.PooledBytes != s1.PooledBytes {
			t.Errorf("reusing the buffer gave InUseBytes %d, PooledBytes %d; want %d, %d as at the first Empty",
				s3.InUseBytes, s3.PooledBytes, s1.InUseBytes, s1.PooledBytes)
		}
		b.Release(y)
	})

	// A Reshape view shares its tensor's memory, and releasing the view (a
	// tensor the pool did not hand out) is a no-op.
	t.Run("ReshapeView", func(t *testing.T) {
		x := b.Empty(dt, 4, 6)
		defer b.Release(x)
		v := x.Reshape(2, -1, 3)
		checkShape(t, "Reshape(2, -1, 3) of [4 6]", v, dt, tensor.Shape{2, 4, 3})
		data := make([]float64, 24)
		for i := range data {
			data[i] = float64(i) - 3.5
		}
		tensor.WriteAs(x, data)
		checkExact(t, "view after a write to its tensor", v.Shape(), v.ToFloat64s(), data)
		b.Fill(v, 2.5)
		checkExact(t, "tensor after Fill of its view", x.Shape(), x.ToFloat64s(), constSlice(24, 2.5))
		before := b.MemStats()
		b.Release(v)
		if after := b.MemStats(); after != before {
			t.Errorf("Release of a Reshape view changed MemStats %+v -> %+v; want a no-op", before, after)
		}
		checkExact(t, "tensor after Release of its view", x.Shape(), x.ToFloat64s(), constSlice(24, 2.5))
	})
}

func constSlice(n int, v float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// transferValues are the values the copies must carry: ordinary,
// tiny, huge, inexact in float32, and the specials.
var transferValues = []float64{0, math.Copysign(0, -1), 1, -2.5, 0.1, 1.0 / 3, 1e-3, -123456.789,
	65504, 3e38, -3e38, 1e-30, 1e-40, 1e-300, 1e300, math.Inf(1), math.Inf(-1), math.NaN()}

// Transfer: the typed host copies and Copy (within and across dtypes).
func testTransfer(t *testing.T, b tensor.Backend, dt tensor.DType) {
	other := tensor.Float64
	if dt == tensor.Float64 {
		other = tensor.Float32
	}
	rng := newRand(1)
	vals := append([]float64(nil), transferValues...)
	for len(vals) < 60 {
		vals = append(vals, rng.NormFloat64()*math.Pow(10, float64(rng.IntN(20)-10)))
	}
	shape := tensor.Shape{6, 10}

	t.Run("TypedCopies", func(t *testing.T) {
		x := b.Empty(dt, shape...)
		defer b.Release(x)
		want := roundAll(dt, vals)
		before := b.Transfers()
		// The typed forms copy exactly, with no conversion on the way.
		if dt == tensor.Float32 {
			src := make([]float32, len(vals))
			for i, v := range vals {
				src[i] = float32(v)
			}
			b.WriteFloat32s(x, src)
			src[0] = 99 // the slice is the caller's again once Write returns
			got := make([]float32, len(vals))
			b.ReadFloat32s(got, x)
			checkExact(t, "ReadFloat32s(WriteFloat32s(v))", shape, widen32(got), want)
		} else {
			src := append([]float64(nil), vals...)
			b.WriteFloat64s(x, src)
			src[0] = 99
			got := make([]float64, len(vals))
			b.ReadFloat64s(got, x)
			checkExact(t, "ReadFloat64s(WriteFloat64s(v))", shape, got, want)
		}
		after := b.Transfers().Sub(before)
		if n := int64(x.Bytes()); after.H2DBytes != n || after.D2HBytes != n || after.HostSyncs < 1 {
			t.Errorf("one write and one read of %d bytes counted %+v", n, after)
		}
		checkExact(t, "ToFloat64s", shape, x.ToFloat64s(), want)
		// Bytes are the little-endian elements.
		raw := make([]byte, x.Bytes())
		b.ReadBytes(raw, x)
		checkExact(t, "ReadBytes decoded", shape, decodeLE(dt, raw), want)
		y := b.Empty(dt, shape...)
		defer b.Release(y)
		b.WriteBytes(y, raw)
		checkExact(t, "WriteBytes(ReadBytes(x))", shape, y.ToFloat64s(), want)
		v := b.Empty(dt)
		tensor.WriteAs(v, []float64{-0.75})
		if got := v.Item(); got != -0.75 {
			t.Errorf("scalar round trip: got %v, want -0.75", got)
		}
		b.Release(v)
		z := b.Empty(dt, 0, 3)
		tensor.WriteAs(z, nil)
		b.ReadBytes(nil, z)
		b.Release(z)
	})

	// Typed copies never convert: the wrong slice type or length panics.
	t.Run("TypedCopyMismatch", func(t *testing.T) {
		x := b.Empty(dt, 2, 3)
		defer b.Release(x)
		if dt == tensor.Float32 {
			mustPanic(t, "WriteFloat64s into float32", func() { b.WriteFloat64s(x, make([]float64, 6)) }, "float32")
			mustPanic(t, "ReadFloat64s from float32", func() { b.ReadFloat64s(make([]float64, 6), x) }, "float32")
			mustPanic(t, "WriteFloat32s of 5 into 6", func() { b.WriteFloat32s(x, make([]float32, 5)) }, "5")
		} else {
			mustPanic(t, "WriteFloat32s into float64", func() { b.WriteFloat32s(x, make([]float32, 6)) }, "float64")
			mustPanic(t, "ReadFloat32s from float64", func() { b.ReadFloat32s(make([]float32, 6), x) }, "float64")
			mustPanic(t, "WriteFloat64s of 5 into 6", func() { b.WriteFloat64s(x, make([]float64, 5)) }, "5")
		}
		mustPanic(t, "WriteBytes of the wrong length", func() { b.WriteBytes(x, make([]byte, 7)) }, "7")
		mustPanic(t, "ReadBytes of the wrong length", func() { b.ReadBytes(make([]byte, 7), x) }, "7")
	})

	t.Run("Copy", func(t *testing.T) {
		src := b.Empty(dt, shape...)
		defer b.Release(src)
		tensor.WriteAs(src, vals)
		held := src.ToFloat64s()
		// Same dtype, different shape of the same size.
		dst := nanTensor(t, b, dt, 3, 4, 5)
		b.Copy(dst, src)
		checkExact(t, "Copy into [3 4 5]", dst.Shape(), dst.ToFloat64s(), held)
		checkExact(t, "Copy source afterwards", shape, src.ToFloat64s(), held)
		// dt -> other and back: each conversion rounds to the destination.
		conv := nanTensor(t, b, other, 60)
		b.Copy(conv, src)
		want := roundAll(other, held)
		checkExact(t, fmt.Sprintf("Copy %s -> %s", dt, other), conv.Shape(), conv.ToFloat64s(), want)
		back := nanTensor(t, b, dt, shape...)
		b.Copy(back, conv)
		checkExact(t, fmt.Sprintf("Copy %s -> %s -> %s", dt, other, dt), shape, back.ToFloat64s(), roundAll(dt, want))
		// Zero-size copies are no-ops.
		b.Copy(nanTensor(t, b, dt, 0, 2), nanTensor(t, b, other, 0))
	})
}

// Fill sets every element, rounding to dt.
func testFill(t *testing.T, b tensor.Backend, dt tensor.DType) {
	for _, s := range []tensor.Shape{{}, {1}, {7}, {3, 5}, {0, 4}, {300, 211}} {
		for _, v := range []float64{0, -2.5, 0.1, 1e10, math.Inf(-1), math.NaN()} {
			x := b.Empty(dt, s...)
			tensor.WriteAs(x, constSlice(s.Numel(), 42))
			b.Fill(x, v)
			checkExact(t, fmt.Sprintf("Fill(%v, %v)", s, v), s, x.ToFloat64s(), constSlice(s.Numel(), roundTo(dt, v)))
			b.Release(x)
		}
	}
}

// Random: the distributions' moments, ranges and support, and the
// determinism of seeds.
//
// Moment checks use n = 100000 draws and accept 5 standard errors: a correct
// generator fails one with probability 6e-7, while a wrong scale, shift or
// distribution family misses by hundreds of standard errors. Standard errors:
// the mean of N(μ, σ²) has σ/√n; the sample standard deviation has
// σ/√(2n) (large-n normal theory); a fraction p has √(p(1-p)/n); the mean of
// U[a, b) has (b-a)/√(12n).
func testRandom(t *testing.T, b tensor.Backend, dt tensor.DType) {
	const n = 100000
	draw := func(t *testing.T, d tensor.Distribution, seed uint64, shape ...int) []float64 {
		x := nanTensor(t, b, dt, shape...)
		b.Random(x, d, tensor.NewRNG(seed))
		return x.ToFloat64s()
	}
	within := func(t *testing.T, what string, got, want, se float64) {
		t.Helper()
		if math.Abs(got-want) > 5*se {
			t.Errorf("%s = %.6g, want %.6g ± %.3g (5 standard errors of %.3g)", what, got, want, 5*se, se)
		}
	}

	t.Run("Normal", func(t *testing.T) {
		const mu, sigma = 1.5, 2.0
		v := draw(t, tensor.Normal(mu, sigma), 11, 250, n/250)
		mean, std := moments(v)
		within(t, "mean of N(1.5, 2²)", mean, mu, sigma/math.Sqrt(n))
		within(t, "std of N(1.5, 2²)", std, sigma, sigma/math.Sqrt(2*n))
		// Shape, not just moments: P(|z| < 1) = 0.682689 for a normal (a
		// uniform with the same variance gives 0.577).
		in := 0
		for _, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				t.Fatalf("non-finite normal draw %v", x)
			}
			if math.Abs(x-mu) < sigma {
				in++
			}
		}
		const p = 0.682689492
		within(t, "fraction within one std", float64(in)/n, p, math.Sqrt(p*(1-p)/n))
	})

	t.Run("Uniform", func(t *testing.T) {
		const lo, hi = -2.0, 3.0
		v := draw(t, tensor.Uniform(lo, hi), 12, n)
		mean, _ := moments(v)
		within(t, "mean of U[-2, 3)", mean, (lo+hi)/2, (hi-lo)/math.Sqrt(12*n))
		checkRange(t, "U[-2, 3)", v, lo, hi)
		// Each fifth of the range holds a fifth of the draws.
		var bins [5]int
		for _, x := range v {
			bins[min(4, max(0, int(x-lo)))]++
		}
		for i, c := range bins {
			within(t, fmt.Sprintf("fraction in [%g, %g)", lo+float64(i), lo+float64(i+1)), float64(c)/n, 0.2, math.Sqrt(0.2*0.8/n))
		}
	})

	// U[0, 1) must never yield 1, also in float32, where rounding a float64
	// draw just below 1 to float32 can give exactly 1.0. Seed 3773 is
	// included because the CPU backend's stream (one rng.Float64 per element)
	// has its 435th draw within 2^-25 of 1 there; for any other backend it is
	// just one more seed.
	t.Run("UniformExcludesHigh", func(t *testing.T) {
		for _, seed := range []uint64{1, 2, 3773} {
			v := draw(t, tensor.Uniform(0, 1), seed, 1000)
			checkRange(t, fmt.Sprintf("U[0, 1) with seed %d", seed), v, 0, 1)
		}
	})

	t.Run("Rademacher", func(t *testing.T) {
		const m = n + 37 // not a multiple of 64, in case draws are bit-packed
		v := draw(t, tensor.Rademacher(), 13, m)
		pos := 0
		for i, x := range v {
			switch x {
			case 1:
				pos++
			case -1:
			default:
				t.Fatalf("Rademacher draw %d is %v, want ±1", i, x)
			}
		}
		within(t, "fraction of +1", float64(pos)/m, 0.5, math.Sqrt(0.25/m))
		// The tail past the last multiple of 64 is filled too.
		tail := 0
		for _, x := range v[m-37:] {
			if x == 1 {
				tail++
			}
		}
		if tail == 0 || tail == 37 {
			t.Errorf("the last 37 Rademacher draws are all %v", v[m-1])
		}
	})

	t.Run("Seeds", func(t *testing.T) {
		for _, d := range []tensor.Distribution{tensor.Normal(0, 1), tensor.Uniform(-1, 1), tensor.Rademacher()} {
			name := map[tensor.DistKind]string{tensor.DistNormal: "normal", tensor.DistUniform: "uniform", tensor.DistRademacher: "rademacher"}[d.Kind]
			a := draw(t, d, 42, 1000)
			checkExact(t, name+": same seed, same draws", nil, draw(t, d, 42, 1000), a)
			// Continuous draws of different seeds almost never coincide;
			// ±1 draws agree about half the time.
			maxSame := 10
			if d.Kind == tensor.DistRademacher {
				maxSame = 600
			}
			if s := countSame(a, draw(t, d, 43, 1000)); s > maxSame {
				t.Errorf("%s: seeds 42 and 43 agree on %d of 1000 draws, want at most %d", name, s, maxSame)
			}
			// One generator keeps advancing: two fills from it differ.
			rng := tensor.NewRNG(42)
			x, y := nanTensor(t, b, dt, 1000), nanTensor(t, b, dt, 1000)
			b.Random(x, d, rng)
			b.Random(y, d, rng)
			checkExact(t, name+": first fill from NewRNG(42)", nil, x.ToFloat64s(), a)
			if s := countSame(x.ToFloat64s(), y.ToFloat64s()); s > maxSame {
				t.Errorf("%s: two successive fills from one RNG agree on %d of 1000 draws, want at most %d", name, s, maxSame)
			}
		}
	})
}

// moments returns the sample mean and standard deviation.
func moments(v []float64) (mean, std float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	ss := 0.0
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(v)-1))
}

// checkRange fails unless every value lies in [lo, hi).
func checkRange(t *testing.T, what string, v []float64, lo, hi float64) {
	t.Helper()
	for i, x := range v {
		if !(x >= lo && x < hi) {
			t.Errorf("%s: draw %d is %.17g, outside [%g, %g)", what, i, x, lo, hi)
			return
		}
	}
}

func countSame(a, b []float64) int {
	n := 0
	for i := range a {
		if a[i] == b[i] {
			n++
		}
	}
	return n
}

func widen32(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// decodeLE decodes little-endian elements of dt.
func decodeLE(dt tensor.DType, raw []byte) []float64 {
	if dt == tensor.Float32 {
		out := make([]float64, len(raw)/4)
		for i := range out {
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])))
		}
		return out
	}
	out := make([]float64, len(raw)/8)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
	}
	return out
}
