package tensor

import "math"

// RandomWords returns the number of stream words a draw of n values from
// dist uses: one per value, rounded up to even for normals (Box-Muller
// makes values in pairs).
func RandomWords(dist Distribution, n int) uint64 {
	if dist.Kind == DistNormal {
		return uint64(n + n%2)
	}
	return uint64(n)
}

// TakeWords reserves the next n words of rng's stream for one tensor draw
// and returns the stream and the offset of the first word. A backend calls
// it when the draw is enqueued; the draw is then a pure function of the
// two, wherever and whenever it runs.
func (r *RNG) TakeWords(n uint64) (PhiloxStream, uint64) {
	o := r.offset
	r.offset += n
	return r.s, o
}

// randomChunk is the number of values one goroutine of a large fill draws
// (even, so no Box-Muller pair straddles two chunks).
const randomChunk = 1 << 14

func (c *CPU) Random(dst *Tensor, dist Distribution, rng *RNG) {
	c.own(dst)
	CheckRandom(dist)
	s, off := rng.TakeWords(RandomWords(dist, dst.Numel()))
	c.RandomAt(dst, dist, s, off)
}

// RandomAt fills dst with draws from dist using words off, off+1, ... of
// stream s: value i from word off+i (normals: values 2j and 2j+1 from the
// pair of words off+2j, off+2j+1). Uniforms use the word's top 24 bits.
func (c *CPU) RandomAt(dst *Tensor, dist Distribution, s PhiloxStream, off uint64) {
	c.own(dst)
	CheckRandom(dist)
	n := dst.Numel()
	parallelFor((n+randomChunk-1)/randomChunk, randomChunk*4, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			a, b := k*randomChunk, min((k+1)*randomChunk, n)
			if dst.dtype == Float32 {
				randomFill(dst.f32[a:b], dist, s, off+uint64(a))
			} else {
				randomFill(dst.f64[a:b], dist, s, off+uint64(a))
			}
		}
	})
}

func randomFill[T float](d []T, dist Distribution, s PhiloxStream, off uint64) {
	pos, blk := off, [4]uint32{}
	if off%4 != 0 {
		blk = s.block(off / 4)
	}
	next := func() uint32 {
		if pos%4 == 0 {
			blk = s.block(pos / 4)
		}
		v := blk[pos%4]
		pos++
		return v
	}
	switch dist.Kind {
	case DistNormal:
		for j := 0; j < len(d); j += 2 {
			r := math.Sqrt(-2 * math.Log(uniform01(next())))
			sn, cs := math.Sincos(2 * math.Pi * uniform01(next()))
			d[j] = T(dist.A + dist.B*r*cs)
			if j+1 < len(d) {
				d[j+1] = T(dist.A + dist.B*r*sn)
			}
		}
	case DistUniform:
		top := T(dist.B)
		below := T(math.Nextafter(dist.B, math.Inf(-1)))
		if _, ok := any(top).(float32); ok {
			below = T(math.Nextafter32(float32(dist.B), float32(math.Inf(-1))))
		}
		for i := range d {
			u := 1 - uniform01(next()) // [0, 1)
			v := T(dist.A + (dist.B-dist.A)*u)
			if v >= top && dist.B > dist.A {
				// Rounding can reach the excluded upper bound; step down.
				v = below
			}
			d[i] = v
		}
	case DistRademacher:
		for i := range d {
			d[i] = T(int(next()>>31)*2 - 1)
		}
	}
}
