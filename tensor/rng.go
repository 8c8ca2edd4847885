package tensor

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
)

// RNG is a seeded, serialisable random source over one Philox4x32-10
// stream (philox.go): its state is (seed, stream, offset), the offset
// counting the 32-bit words used so far. Every draw, on the host or a
// backend's Random, is a pure function of that state, so the same seed gives
// the same numbers on every machine, backend and thread count, and a
// checkpoint restores it exactly. An RNG is not safe for concurrent use.
type RNG struct {
	s      PhiloxStream
	offset uint64
	// The block holding the last host draw's words, kept so consecutive
	// host draws cost one Philox evaluation per four words.
	blk      [4]uint32
	blkIndex uint64 // block number + 1; 0: none cached
}

// NewRNG returns a generator seeded with seed.
func NewRNG(seed uint64) *RNG { return &RNG{s: PhiloxStream{Seed: seed}} }

// Reseed puts r in the state NewRNG(seed) starts from, without allocating
// (for per-sample generators in hot loops).
func (r *RNG) Reseed(seed uint64) { *r = RNG{s: PhiloxStream{Seed: seed}} }

// Split derives an independent generator for stream i (for example one per
// rank or per worker) without consuming from r: same key, a stream number
// hashed from r's stream, offset and i.
func (r *RNG) Split(i uint64) *RNG {
	h := splitmix64(r.s.Stream ^ splitmix64(r.offset^0x5851f42d4c957f2d) ^ splitmix64(i+1))
	return &RNG{s: PhiloxStream{Seed: r.s.Seed, Stream: h}}
}

// splitmix64 is the finaliser of SplitMix64 (Steele, Lea and Flood), a
// bijective mix of 64 bits.
func splitmix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// word returns the next word of the stream.
func (r *RNG) word() uint32 {
	b := r.offset / 4
	if r.blkIndex != b+1 {
		r.blk, r.blkIndex = r.s.block(b), b+1
	}
	w := r.blk[r.offset%4]
	r.offset++
	return w
}

// Uint64 returns a uniform 64-bit draw (two words, low first).
func (r *RNG) Uint64() uint64 {
	lo := uint64(r.word())
	return lo | uint64(r.word())<<32
}

// Float64 returns a uniform draw in [0, 1) with 53 random bits.
func (r *RNG) Float64() float64 { return float64(r.Uint64()>>11) * 0x1p-53 }

// NormFloat64 returns a standard normal draw: the cosine half of a
// Box-Muller pair from two words.
func (r *RNG) NormFloat64() float64 {
	u, v := uniform01(r.word()), uniform01(r.word())
	return math.Sqrt(-2*math.Log(u)) * math.Cos(2*math.Pi*v)
}

// IntN returns a uniform draw in [0, n) by Lemire's multiply-and-reject
// (no modulo bias). It panics if n <= 0.
func (r *RNG) IntN(n int) int {
	if n <= 0 {
		panic("tensor: RNG.IntN with n <= 0")
	}
	bound := uint64(n)
	hi, lo := bits.Mul64(r.Uint64(), bound)
	if lo < bound {
		thresh := -bound % bound
		for lo < thresh {
			hi, lo = bits.Mul64(r.Uint64(), bound)
		}
	}
	return int(hi)
}

// rngMagic starts a marshalled state; older states (PCG) are refused.
const rngMagic = "philox4x32-10:"

// MarshalBinary saves the generator's state: seed, stream and offset.
func (r *RNG) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, len(rngMagic)+24)
	b = append(b, rngMagic...)
	b = binary.LittleEndian.AppendUint64(b, r.s.Seed)
	b = binary.LittleEndian.AppendUint64(b, r.s.Stream)
	return binary.LittleEndian.AppendUint64(b, r.offset), nil
}

// ErrRNGState: a saved generator state is not one MarshalBinary writes
// (for example a checkpoint of an fdsm from before Philox).
var ErrRNGState = errors.New("tensor: not a Philox generator state (saved by an older fdsm, or corrupt)")

// UnmarshalBinary restores a state saved by MarshalBinary.
func (r *RNG) UnmarshalBinary(b []byte) error {
	if len(b) != len(rngMagic)+24 || string(b[:len(rngMagic)]) != rngMagic {
		return ErrRNGState
	}
	b = b[len(rngMagic):]
	*r = RNG{s: PhiloxStream{Seed: binary.LittleEndian.Uint64(b), Stream: binary.LittleEndian.Uint64(b[8:])},
		offset: binary.LittleEndian.Uint64(b[16:])}
	return nil
}
