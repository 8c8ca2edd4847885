package cuda

import (
	"fmt"

	"github.com/fdsm-go/fdsm/tensor"
)

// Empty returns an uninitialised tensor from the caching allocator. Out
// of device memory panics with an *OutOfMemoryError.
func (b *Backend) Empty(dt tensor.DType, shape ...int) *tensor.Tensor {
	s := tensor.Shape(shape)
	if len(s) > tensor.MaxDims {
		panic(fmt.Sprintf("tensor: rank %d exceeds MaxDims %d", len(s), tensor.MaxDims))
	}
	for _, d := range s {
		if d < 0 {
			panic(fmt.Sprintf("tensor: negative extent in shape %v", s))
		}
	}
	p, class := b.alloc.get(int64(s.Numel() * dt.Size()))
	h := &buffer{be: b, ptr: p, class: class}
	t := tensor.NewDeviceTensor(b, dt, s, h)
	h.owner = t
	return t
}

// Zeros returns a tensor from the allocator, zeroed on the stream.
func (b *Backend) Zeros(dt tensor.DType, shape ...int) *tensor.Tensor {
	t := b.Empty(dt, shape...)
	b.zero(b.ptr(t), int64(t.Bytes()))
	return t
}

// zero enqueues clearing n bytes (all-zero bits are +0 in both dtypes).
func (b *Backend) zero(p Ptr, n int64) {
	if n > 0 {
		b.check(b.dev.Memset(p, 0, n, b.s))
	}
}

// Release returns t's memory to the cache at once: work enqueued before
// runs first on the one stream. A view or another backend's tensor is a
// no-op.
func (b *Backend) Release(t *tensor.Tensor) {
	if t == nil {
		return
	}
	if h, ok := t.DeviceHandle().(*buffer); ok && h.be == b {
		b.alloc.release(h, t)
	}
}

func (b *Backend) MemStats() tensor.MemStats { return b.alloc.memStats() }
func (b *Backend) ResetPeak()                { b.alloc.resetPeak() }

// Trim waits for the stream, then returns the cached blocks to the device
// (for example after an evaluation with large batches).
func (b *Backend) Trim() error { return b.alloc.trim() }

// scratch is device memory for one primitive's intermediate results,
// released right after the work that reads it is enqueued.
type scratch struct {
	p     Ptr
	class int64
}

func (b *Backend) scratch(bytes int64) scratch {
	p, class := b.alloc.get(bytes)
	return scratch{p, class}
}

func (b *Backend) free(s scratch) { b.alloc.put(s.p, s.class) }
