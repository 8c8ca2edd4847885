package cuda

import (
	"errors"
	"fmt"
	"math/bits"
	"sync"

	"github.com/fdsm-go/fdsm/tensor"
)

// The caching allocator. Device allocations are slow (cuMemAlloc
// synchronises the device), so released blocks are kept by size class and
// handed out again. Reuse is stream-ordered: a released block may go to the
// next request at once, because everything the backend enqueues runs on its
// one stream, after the work that used the block before it was released.
// A failed allocation first waits for the stream and frees the cache, then
// tries once more.

type allocator struct {
	b      *Backend
	mu     sync.Mutex
	cached map[int64][]Ptr // released blocks by class
	live   map[Ptr]int64   // every block held from the device, for Close
	stats  tensor.MemStats
}

func newAllocator(b *Backend) *allocator {
	return &allocator{b: b, cached: make(map[int64][]Ptr), live: make(map[Ptr]int64)}
}

// sizeClass rounds a request up to its class: multiples of 512 bytes up to
// 1 MiB, then eight classes per power of two (at most 12.5% slack), so
// steady-state steps, which ask for the same sizes, hit the cache.
func sizeClass(n int64) int64 {
	switch {
	case n <= 0:
		return 0
	case n <= 1<<20:
		return (n + 511) &^ 511
	}
	step := int64(1) << (60 - bits.LeadingZeros64(uint64(n))) // an eighth of the power of two below n
	return (n + step - 1) / step * step
}

// get returns a block of at least n bytes and its class. A request of 0
// bytes gets no memory (Ptr 0) and counts as a reuse. It panics with an
// *OutOfMemoryError when the device has no room even after the cache is
// freed.
func (a *allocator) get(n int64) (Ptr, int64) {
	class := sizeClass(n)
	a.mu.Lock()
	defer a.mu.Unlock()
	if list := a.cached[class]; class == 0 || len(list) > 0 {
		var p Ptr
		if class > 0 {
			p = list[len(list)-1]
			a.cached[class] = list[:len(list)-1]
			a.stats.PooledBytes -= class
		}
		a.stats.Reuses++
		a.take(class)
		return p, class
	}
	p, err := a.b.dev.Alloc(class)
	if errors.Is(err, ErrOutOfMemory) {
		p, err = a.retry(class)
	}
	if err != nil {
		panic(err)
	}
	a.live[p] = class
	a.stats.Allocs++
	a.take(class)
	return p, class
}

func (a *allocator) take(class int64) {
	a.stats.InUseBytes += class
	a.stats.PeakBytes = max(a.stats.PeakBytes, a.stats.InUseBytes)
}

// retry frees the cache (after the stream, whose queued work may still use
// cached blocks) and allocates again; a second failure becomes an
// *OutOfMemoryError with the sizes.
func (a *allocator) retry(class int64) (Ptr, error) {
	cached := a.stats.PooledBytes
	a.b.syncs.Add(1)
	if err := a.b.dev.StreamSync(a.b.s); err != nil {
		return 0, fmt.Errorf("%s: allocating %d bytes: %w", a.b.name, class, err)
	}
	if err := a.freeCached(); err != nil {
		return 0, fmt.Errorf("%s: allocating %d bytes: %w", a.b.name, class, err)
	}
	p, err := a.b.dev.Alloc(class)
	if !errors.Is(err, ErrOutOfMemory) {
		return p, err
	}
	free, total, ierr := a.b.dev.MemInfo()
	if ierr != nil {
		free, total = -1, -1
	}
	return 0, &OutOfMemoryError{Device: a.b.name, Asked: class, Free: free, Total: total,
		PoolInUse: a.stats.InUseBytes, PoolCached: cached}
}

// put returns a block to the cache.
func (a *allocator) put(p Ptr, class int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stats.InUseBytes -= class
	if class > 0 {
		a.cached[class] = append(a.cached[class], p)
		a.stats.PooledBytes += class
	}
}

// release puts t's block back if t is the tensor Empty returned for it.
func (a *allocator) release(h *buffer, t *tensor.Tensor) {
	a.mu.Lock()
	if h.owner != t {
		a.mu.Unlock()
		return // a view, or released already: a no-op
	}
	h.owner = nil
	a.mu.Unlock()
	a.put(h.ptr, h.class)
}

// freeCached returns every cached block to the device; the caller holds
// a.mu and has synchronised the stream.
func (a *allocator) freeCached() error {
	var first error
	for class, list := range a.cached {
		for _, p := range list {
			if err := a.b.dev.Free(p); err != nil && first == nil {
				first = err
			}
			delete(a.live, p)
		}
		a.stats.PooledBytes -= class * int64(len(list))
	}
	clear(a.cached)
	return first
}

// trim frees the cache once the stream has run.
func (a *allocator) trim() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.b.syncs.Add(1)
	if err := a.b.dev.StreamSync(a.b.s); err != nil {
		return err
	}
	return a.freeCached()
}

// freeAll frees every block, cached or not (Close; the stream has run).
func (a *allocator) freeAll() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var first error
	for p := range a.live {
		if err := a.b.dev.Free(p); err != nil && first == nil {
			first = err
		}
	}
	clear(a.live)
	clear(a.cached)
	a.stats.PooledBytes, a.stats.InUseBytes = 0, 0
	return first
}

func (a *allocator) memStats() tensor.MemStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stats
}

func (a *allocator) resetPeak() {
	a.mu.Lock()
	a.stats.PeakBytes = a.stats.InUseBytes
	a.mu.Unlock()
}
