package tensor

import (
	"math"
	"math/bits"
)

// Philox4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as
// easy as 1, 2, 3", SC'11) is the counter-based generator of cuRAND,
// PyTorch's CUDA generator and JAX. A block of four 32-bit words is a pure
// function of a 128-bit counter and a 64-bit key, so any element of a
// stream can be computed without the ones before it: the same seed gives
// the same numbers on every backend and for any split of the work across
// threads or devices (issue 15 moves the backends' Random onto it).

// The round multipliers and the key schedule's Weyl increments.
const (
	philoxM0 = 0xD2511F53
	philoxM1 = 0xCD9E8D57
	philoxW0 = 0x9E3779B9 // golden ratio
	philoxW1 = 0xBB67AE85 // sqrt(3) - 1
)

// philoxRounds is the round count of Philox4x32-10.
const philoxRounds = 10

// Philox4x32 returns the block for counter ctr under key.
func Philox4x32(ctr [4]uint32, key [2]uint32) [4]uint32 {
	for r := range philoxRounds {
		if r > 0 {
			key[0] += philoxW0
			key[1] += philoxW1
		}
		hi0, lo0 := bits.Mul32(philoxM0, ctr[0])
		hi1, lo1 := bits.Mul32(philoxM1, ctr[2])
		ctr = [4]uint32{hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0}
	}
	return ctr
}

// PhiloxStream is one stream of a seed: word i of the stream is word i%4 of
// the block with counter (i/4 as 64 bits, Stream as 64 bits) under the key
// Seed. Streams of one seed are independent (distinct counters); a tensor's
// draw takes consecutive words from an offset the caller advances, which
// is all a checkpoint needs to keep.
type PhiloxStream struct {
	Seed   uint64
	Stream uint64
}

func (p PhiloxStream) block(b uint64) [4]uint32 {
	return Philox4x32([4]uint32{uint32(b), uint32(b >> 32), uint32(p.Stream), uint32(p.Stream >> 32)},
		[2]uint32{uint32(p.Seed), uint32(p.Seed >> 32)})
}

// Uint32s fills dst with words offset, offset+1, ... of the stream.
func (p PhiloxStream) Uint32s(dst []uint32, offset uint64) {
	for i := 0; i < len(dst); {
		pos := offset + uint64(i)
		blk := p.block(pos / 4)
		for lane := pos % 4; lane < 4 && i < len(dst); lane++ {
			dst[i] = blk[lane]
			i++
		}
	}
}

// uniform01 maps a word to (0, 1]: 24 bits, the float32 mantissa, so the
// float32 and float64 draws of a stream agree and never give 0 (which
// Box-Muller's log cannot take).
func uniform01(w uint32) float64 { return (float64(w>>8) + 1) / (1 << 24) }

// Uniforms fills dst with U(0, 1] draws from words offset, offset+1, ...
// of the stream (one word per value).
func (p PhiloxStream) Uniforms(dst []float64, offset uint64) {
	w := make([]uint32, len(dst))
	p.Uint32s(w, offset)
	for i, x := range w {
		dst[i] = uniform01(x)
	}
}

// Normals fills dst with N(0, 1) draws by Box-Muller: values 2j and 2j+1
// come from words offset+2j and offset+2j+1 (an odd tail uses the cosine
// half of its pair), so a draw of n values uses n words rounded up to even.
func (p PhiloxStream) Normals(dst []float64, offset uint64) {
	w := make([]uint32, len(dst)+len(dst)%2)
	p.Uint32s(w, offset)
	for j := 0; 2*j < len(dst); j++ {
		r := math.Sqrt(-2 * math.Log(uniform01(w[2*j])))
		s, c := math.Sincos(2 * math.Pi * uniform01(w[2*j+1]))
		dst[2*j] = r * c
		if 2*j+1 < len(dst) {
			dst[2*j+1] = r * s
		}
	}
}

// Rademachers fills dst with ±1, each with probability ½, from the top bit
// of words offset, offset+1, ...
func (p PhiloxStream) Rademachers(dst []float64, offset uint64) {
	w := make([]uint32, len(dst))
	p.Uint32s(w, offset)
	for i, x := range w {
		dst[i] = float64(int(x>>31)*2 - 1)
	}
}
