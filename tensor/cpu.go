package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// CPU is the host backend: Go loops for elementwise work, OpenBLAS (or
// gonum's pure-Go BLAS under -tags noopenblas / CGO_ENABLED=0) for GEMM.
// It is safe for concurrent use.
type CPU struct {
	pool pool
}

// NewCPU returns a CPU backend with its own buffer pool.
func NewCPU() *CPU { return &CPU{} }

var defaultCPU = NewCPU()

var _ Backend = (*CPU)(nil)

// DefaultCPU returns the process-wide CPU backend.
func DefaultCPU() *CPU { return defaultCPU }

// Name reports the backend and the BLAS it was built with.
func (c *CPU) Name() string { return "cpu/" + blasName }

// KernelsName reports which elementwise kernels this binary uses for the
// float32 transcendentals: "c-avx2" or "c-sse2" (native build) or "go".
func KernelsName() string { return nativeKernels() }

// BLASName reports which BLAS this binary uses for GEMM ("openblas" or "gonum").
func BLASName() string { return blasName }

func (c *CPU) Empty(dt DType, shape ...int) *Tensor {
	t, _ := c.pool.get(c, dt, shape)
	return t
}

func (c *CPU) Zeros(dt DType, shape ...int) *Tensor {
	t, fresh := c.pool.get(c, dt, shape)
	if !fresh {
		if dt == Float32 {
			clear(t.f32)
		} else {
			clear(t.f64)
		}
	}
	return t
}

func (c *CPU) Release(t *Tensor) {
	if t == nil || t.backend != Backend(c) {
		return
	}
	c.pool.put(t)
}

func (c *CPU) MemStats() MemStats { return c.pool.memStats() }

func (c *CPU) ResetPeak() { c.pool.resetPeak() }

// Trim frees every pooled buffer (for example after evaluation with large
// batches) so the garbage collector can return the memory.
func (c *CPU) Trim() { c.pool.trim() }

func (c *CPU) Upload(dst *Tensor, src []float64) {
	c.own(dst)
	if len(src) != dst.Numel() {
		panic(fmt.Sprintf("tensor: upload of %d values into %v", len(src), dst.shape))
	}
	if dst.dtype == Float64 {
		copy(dst.f64, src)
		return
	}
	for i, v := range src {
		dst.f32[i] = float32(v)
	}
}

func (c *CPU) Download(dst []float64, t *Tensor) {
	c.own(t)
	if len(dst) != t.Numel() {
		panic(fmt.Sprintf("tensor: download of %v into %d values", t.shape, len(dst)))
	}
	if t.dtype == Float64 {
		copy(dst, t.f64)
		return
	}
	for i, v := range t.f32 {
		dst[i] = float64(v)
	}
}

func (c *CPU) Copy(dst, src *Tensor) {
	c.own(dst, src)
	if dst.Numel() != src.Numel() {
		panic(fmt.Sprintf("tensor: copy %v into %v", src.shape, dst.shape))
	}
	switch {
	case dst.dtype == Float32 && src.dtype == Float32:
		copy(dst.f32, src.f32)
	case dst.dtype == Float64 && src.dtype == Float64:
		copy(dst.f64, src.f64)
	case dst.dtype == Float32:
		for i, v := range src.f64 {
			dst.f32[i] = float32(v)
		}
	default:
		for i, v := range src.f32 {
			dst.f64[i] = float64(v)
		}
	}
}

func (c *CPU) Fill(dst *Tensor, v float64) {
	c.own(dst)
	if dst.dtype == Float32 {
		f := float32(v)
		for i := range dst.f32 {
			dst.f32[i] = f
		}
		return
	}
	for i := range dst.f64 {
		dst.f64[i] = v
	}
}

// randomChunk is the number of elements one derived stream fills: large
// tensors draw one seed from rng and fill fixed chunks from streams derived
// from (seed, chunk index) in parallel, so the result depends only on rng's
// state, never on the number of threads.
const randomChunk = 1 << 14

func (c *CPU) Random(dst *Tensor, dist Distribution, rng *RNG) {
	c.own(dst)
	if dist.Kind < DistNormal || dist.Kind > DistRademacher {
		panic(fmt.Sprintf("tensor: unknown distribution %d", dist.Kind))
	}
	n := dst.Numel()
	if n <= randomChunk {
		fillRandom(dst, dist, rng.r, 0, n)
		return
	}
	seed := rng.Uint64()
	chunks := (n + randomChunk - 1) / randomChunk
	parallelFor(chunks, randomChunk*4, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			r := rand.New(rand.NewPCG(seed, uint64(k)))
			fillRandom(dst, dist, r, k*randomChunk, min((k+1)*randomChunk, n))
		}
	})
}

// fillRandom fills dst[lo:hi] with draws from dist.
func fillRandom(dst *Tensor, dist Distribution, r *rand.Rand, lo, hi int) {
	set := func(i int, v float64) {
		if dst.dtype == Float32 {
			dst.f32[i] = float32(v)
		} else {
			dst.f64[i] = v
		}
	}
	switch dist.Kind {
	case DistNormal:
		for i := lo; i < hi; i++ {
			set(i, dist.A+dist.B*r.NormFloat64())
		}
	case DistUniform:
		for i := lo; i < hi; i++ {
			v := dist.A + (dist.B-dist.A)*r.Float64()
			if dst.dtype == Float32 && float32(v) >= float32(dist.B) && dist.B > dist.A {
				// Rounding to float32 can reach the excluded upper bound;
				// step down to the largest float32 below it.
				v = float64(math.Nextafter32(float32(dist.B), float32(math.Inf(-1))))
			}
			set(i, v)
		}
	case DistRademacher:
		// One 64-bit draw gives 64 signs.
		var bits uint64
		for i := lo; i < hi; i++ {
			if (i-lo)%64 == 0 {
				bits = r.Uint64()
			}
			set(i, float64(int(bits&1)*2-1))
			bits >>= 1
		}
	}
}

// own panics unless every tensor is a host tensor. Tensors of other CPU
// instances are accepted: host memory is shared, so CPU backends interoperate.
func (c *CPU) own(ts ...*Tensor) {
	for _, t := range ts {
		if t == nil {
			panic("tensor: nil tensor")
		}
		if !t.IsHost() {
			panic(fmt.Sprintf("tensor: %s given a device tensor %v from %s", c.Name(), t.shape, t.backend.Name()))
		}
	}
}

func sameDType(op string, ts ...*Tensor) DType {
	dt := ts[0].dtype
	for _, t := range ts[1:] {
		if t.dtype != dt {
			panic(fmt.Sprintf("tensor: %s mixes %s and %s", op, dt, t.dtype))
		}
	}
	return dt
}

// FromFloat64s returns a new tensor of backend b with the given shape and
// values converted to dt. It panics if len(data) does not match the shape.
func FromFloat64s(b Backend, dt DType, shape Shape, data []float64) *Tensor {
	t := b.Empty(dt, shape...)
	b.Upload(t, data)
	return t
}

// Scalar returns a one-element tensor of shape [] holding v.
func Scalar(b Backend, dt DType, v float64) *Tensor {
	t := b.Empty(dt)
	b.Fill(t, v)
	return t
}
