package tensor

import (
	"math/rand/v2"
)

// RNG is a seeded, serialisable random source. The same seed gives the same
// stream on every machine, so runs are reproducible and checkpoints can save
// and restore it exactly. An RNG is not safe for concurrent use.
type RNG struct {
	pcg *rand.PCG
	r   *rand.Rand
}

// seedMix derives PCG's second seed word from the first.
const seedMix = 0x9e3779b97f4a7c15

// NewRNG returns a generator seeded with seed.
func NewRNG(seed uint64) *RNG {
	pcg := rand.NewPCG(seed, seed^seedMix)
	return &RNG{pcg: pcg, r: rand.New(pcg)}
}

// Reseed puts r in the state NewRNG(seed) starts from, without allocating
// (for per-sample generators in hot loops).
func (r *RNG) Reseed(seed uint64) { r.pcg.Seed(seed, seed^seedMix) }

// Split derives an independent generator for stream i (for example one per
// rank or per worker) without consuming from r.
func (r *RNG) Split(i uint64) *RNG {
	state, _ := r.pcg.MarshalBinary()
	h := uint64(0xcbf29ce484222325)
	for _, b := range state {
		h = (h ^ uint64(b)) * 0x100000001b3
	}
	return NewRNG(h ^ (i+1)*0xbf58476d1ce4e5b9)
}

// Float64 returns a uniform draw in [0, 1).
func (r *RNG) Float64() float64 { return r.r.Float64() }

// NormFloat64 returns a standard normal draw.
func (r *RNG) NormFloat64() float64 { return r.r.NormFloat64() }

// Uint64 returns a uniform 64-bit draw.
func (r *RNG) Uint64() uint64 { return r.r.Uint64() }

// IntN returns a uniform draw in [0, n). It panics if n <= 0.
func (r *RNG) IntN(n int) int { return r.r.IntN(n) }

// MarshalBinary saves the generator's state.
func (r *RNG) MarshalBinary() ([]byte, error) { return r.pcg.MarshalBinary() }

// UnmarshalBinary restores a state saved by MarshalBinary.
func (r *RNG) UnmarshalBinary(b []byte) error { return r.pcg.UnmarshalBinary(b) }
