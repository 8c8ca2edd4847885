package tensor

import "testing"

// TestRandomIndependentOfThreads: large fills are generated in fixed chunks
// from streams derived from the RNG's state, so the values do not depend on
// GOMAXPROCS, and the RNG advances the same way.
func TestRandomIndependentOfThreads(t *testing.T) {
	c := NewCPU()
	fill := func(procs int) ([]float64, uint64) {
		old := setProcs(procs)
		defer setProcs(old)
		x := c.Empty(Float64, 5*randomChunk+7)
		r := NewRNG(42)
		c.Random(x, Normal(0, 1), r)
		return x.ToFloat64s(), r.Uint64()
	}
	a, ra := fill(1)
	b, rb := fill(3)
	if ra != rb {
		t.Fatal("RNG state differs after the fill")
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("element %d: %v with 1 thread, %v with 3", i, a[i], b[i])
		}
	}
}

func TestReseedMatchesNewRNG(t *testing.T) {
	r := NewRNG(0)
	r.Uint64()
	for _, seed := range []uint64{0, 1, 1 << 63, 0xdeadbeef} {
		r.Reseed(seed)
		ref := NewRNG(seed)
		for range 5 {
			if r.Uint64() != ref.Uint64() {
				t.Fatalf("Reseed(%d) does not reproduce NewRNG(%d)", seed, seed)
			}
		}
	}
}

// TestRandomIsPhiloxStream: a tensor draw is the stream's words from the
// generator's offset, through the reference transforms of philox.go (which
// pass Random123's known answers), for every distribution, across chunk
// boundaries and an odd offset; the generator advances by RandomWords.
func TestRandomIsPhiloxStream(t *testing.T) {
	c := NewCPU()
	n := 2*randomChunk + 5
	for _, dist := range []Distribution{Normal(0.5, 2), Uniform(-1, 3), Rademacher()} {
		r := NewRNG(42)
		r.word() // an odd offset: the draw must not assume block alignment
		x := c.Empty(Float64, n)
		c.Random(x, dist, r)
		ref := make([]float64, n)
		s := PhiloxStream{Seed: 42}
		switch dist.Kind {
		case DistNormal:
			s.Normals(ref, 1)
			for i := range ref {
				ref[i] = 0.5 + 2*ref[i]
			}
		case DistUniform:
			s.Uniforms(ref, 1)
			for i := range ref {
				ref[i] = -1 + 4*(1-ref[i])
			}
		case DistRademacher:
			s.Rademachers(ref, 1)
		}
		got := x.ToFloat64s()
		for i := range ref {
			if got[i] != ref[i] {
				t.Fatalf("%+v: value %d = %v, stream reference %v", dist, i, got[i], ref[i])
			}
		}
		if want := 1 + RandomWords(dist, n); r.offset != want {
			t.Fatalf("%+v: offset %d after the draw, want %d", dist, r.offset, want)
		}
	}
}

// TestRNGStateRoundTrip: a restored generator continues exactly; a state
// of another generator (an older fdsm's PCG) is refused, not misread.
func TestRNGStateRoundTrip(t *testing.T) {
	r := NewRNG(7).Split(3)
	r.NormFloat64()
	r.word()
	b, err := r.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var q RNG
	if err := q.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	for range 9 {
		if x, y := r.Uint64(), q.Uint64(); x != y {
			t.Fatalf("restored generator gives %x, original %x", y, x)
		}
	}
	old := make([]byte, 20) // the size of a PCG state
	if err := q.UnmarshalBinary(old); err != ErrRNGState {
		t.Fatalf("PCG-sized state: error %v, want ErrRNGState", err)
	}
}

// TestRNGDraws: host draws' ranges, IntN's uniformity (chi-squared over 7
// cells, 70000 draws: the 1e-6 quantile of χ²(6) is 41) and the
// independence of split streams.
func TestRNGDraws(t *testing.T) {
	r := NewRNG(1)
	var cells [7]int
	for range 70000 {
		cells[r.IntN(7)]++
	}
	chi := 0.0
	for _, c := range cells {
		d := float64(c) - 10000
		chi += d * d / 10000
	}
	if chi > 41 {
		t.Fatalf("IntN(7) counts %v: χ² = %.1f", cells, chi)
	}
	for range 10000 {
		if f := r.Float64(); f < 0 || f >= 1 {
			t.Fatalf("Float64 %v outside [0, 1)", f)
		}
	}
	a, b := r.Split(0), r.Split(1)
	if a.Uint64() == b.Uint64() {
		t.Fatal("split streams 0 and 1 start with the same draw")
	}
	if x, y := r.Split(5).Uint64(), r.Split(5).Uint64(); x != y {
		t.Fatal("Split is not a pure function of the state and i")
	}
}
