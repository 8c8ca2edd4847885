package cuda

import (
	"math"

	"github.com/fdsm-go/fdsm/tensor"
)

// Random reserves the generator's words at the call (tensor.RNG.TakeWords),
// so the kernel is a pure function of (stream, offset) whenever it runs,
// and draws exactly the CPU's values (kernels/random.cu).
func (b *Backend) Random(dst *tensor.Tensor, dist tensor.Distribution, rng *tensor.RNG) {
	tensor.CheckRandom(dist)
	p, n := b.ptr(dst), dst.Numel()
	s, off := rng.TakeWords(tensor.RandomWords(dist, n))
	// A uniform that rounds up to the excluded bound becomes the largest
	// value below it, in the element type.
	below := math.Nextafter(dist.B, math.Inf(-1))
	if dst.DType() == tensor.Float32 {
		below = float64(math.Nextafter32(float32(dist.B), float32(math.Inf(-1))))
	}
	items := int64(n)
	if dist.Kind == tensor.DistNormal {
		items = int64(n+1) / 2 // one thread per Box-Muller pair
	}
	b.launch("random"+suffix(dst.DType()), items, uint64(p), uint64(n), s.Seed, s.Stream, off,
		distCodes[dist.Kind], f64(dist.A), f64(dist.B), f64(below))
}
