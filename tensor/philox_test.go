package tensor

import (
	"math"
	"slices"
	"testing"
)

// TestPhilox4x32KnownAnswers: the Random123 distribution's known-answer
// vectors for Philox4x32-10 (kat_vectors: counter, key, expected block).
func TestPhilox4x32KnownAnswers(t *testing.T) {
	for _, c := range []struct {
		ctr  [4]uint32
		key  [2]uint32
		want [4]uint32
	}{
		{[4]uint32{0, 0, 0, 0}, [2]uint32{0, 0}, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[4]uint32{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, [2]uint32{0xffffffff, 0xffffffff},
			[4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0},
			[4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	} {
		if got := Philox4x32(c.ctr, c.key); got != c.want {
			t.Errorf("Philox4x32(%08x, %08x) = %08x, want %08x", c.ctr, c.key, got, c.want)
		}
	}
}

// TestPhiloxStreamSplits: any split of a draw into pieces at their offsets
// (as threads or devices would take them) gives the same words; streams and
// seeds differ.
func TestPhiloxStreamSplits(t *testing.T) {
	p := PhiloxStream{Seed: 42, Stream: 7}
	whole := make([]uint32, 1001)
	p.Uint32s(whole, 5)
	for _, cuts := range [][]int{{1}, {3, 4, 5}, {500, 1}, {7, 7, 7, 7, 7}} {
		var got []uint32
		off := 0
		for i := 0; off < len(whole); i++ {
			n := min(cuts[i%len(cuts)], len(whole)-off)
			part := make([]uint32, n)
			p.Uint32s(part, uint64(5+off))
			got = append(got, part...)
			off += n
		}
		if !slices.Equal(got, whole) {
			t.Fatalf("pieces of %v differ from one draw", cuts)
		}
	}
	other := make([]uint32, len(whole))
	PhiloxStream{Seed: 42, Stream: 8}.Uint32s(other, 5)
	if slices.Equal(other, whole) {
		t.Fatal("two streams of a seed gave the same words")
	}
	PhiloxStream{Seed: 43, Stream: 7}.Uint32s(other, 5)
	if slices.Equal(other, whole) {
		t.Fatal("two seeds gave the same words")
	}
}

// TestPhiloxDistributions: moments of 2^18 draws against the distributions'
// own, within 5 standard errors (a false alarm about once in 3.5 million
// runs; a wrong scale, offset or sign convention misses by far more).
func TestPhiloxDistributions(t *testing.T) {
	const n = 1 << 18
	p := PhiloxStream{Seed: 2026, Stream: 1}
	x := make([]float64, n)
	moments := func() (mean, variance float64) {
		for _, v := range x {
			mean += v
		}
		mean /= n
		for _, v := range x {
			variance += (v - mean) * (v - mean)
		}
		return mean, variance / (n - 1)
	}
	check := func(what string, got, want, se float64) {
		if math.Abs(got-want) > 5*se {
			t.Errorf("%s: %v, want %v ± %v (5 s.e.)", what, got, want, 5*se)
		}
	}
	p.Normals(x, 0)
	m, v := moments()
	check("normal mean", m, 0, 1/math.Sqrt(n))
	check("normal variance", v, 1, math.Sqrt(2.0/n))
	tail := 0.0
	for _, z := range x {
		if math.Abs(z) > 1.959963984540054 {
			tail++
		}
	}
	check("normal P(|z| > 1.96)", tail/n, 0.05, math.Sqrt(0.05*0.95/n))
	p.Uniforms(x, 1<<40)
	m, v = moments()
	check("uniform mean", m, 0.5, math.Sqrt(1.0/12/n))
	check("uniform variance", v, 1.0/12, math.Sqrt(1.0/180/n))
	if slices.Min(x) <= 0 || slices.Max(x) > 1 {
		t.Errorf("uniforms outside (0, 1]: %v .. %v", slices.Min(x), slices.Max(x))
	}
	p.Rademachers(x, 3)
	m, _ = moments()
	check("rademacher mean", m, 0, 1/math.Sqrt(n))
	for _, r := range x {
		if r != 1 && r != -1 {
			t.Fatalf("rademacher value %v", r)
		}
	}
	// An odd-length normal draw is the even draw's prefix.
	odd, even := make([]float64, 5), make([]float64, 6)
	p.Normals(odd, 9)
	p.Normals(even, 9)
	if !slices.Equal(odd, even[:5]) {
		t.Errorf("odd draw %v is not a prefix of %v", odd, even)
	}
}
