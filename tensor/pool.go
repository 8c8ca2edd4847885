package tensor

import "sync"

// pool keeps released host buffers by (dtype, element count) so steady-state
// training steps, which ask for the same sizes every step, allocate nothing.
type pool struct {
	mu    sync.Mutex
	free  map[poolKey][]*Tensor
	stats MemStats
}

type poolKey struct {
	dt DType
	n  int
}

func (p *pool) get(b Backend, dt DType, shape []int) (t *Tensor, fresh bool) {
	s := Shape(shape)
	checkShape(s)
	n := s.Numel()
	k := poolKey{dt, n}
	p.mu.Lock()
	if p.free == nil {
		p.free = make(map[poolKey][]*Tensor)
	}
	list := p.free[k]
	if m := len(list); m > 0 {
		t = list[m-1]
		list[m-1] = nil
		p.free[k] = list[:m-1]
		p.stats.PooledBytes -= int64(n * dt.Size())
		p.stats.Reuses++
	}
	p.stats.InUseBytes += int64(n * dt.Size())
	p.stats.PeakBytes = max(p.stats.PeakBytes, p.stats.InUseBytes)
	if t == nil {
		p.stats.Allocs++
	}
	p.mu.Unlock()
	if t != nil {
		// Reuse the header and its shape storage.
		t.shape = append(t.shape[:0], s...)
		return t, false
	}
	t = &Tensor{dtype: dt, shape: append(make(Shape, 0, MaxDims), s...), backend: b, pooled: true}
	if dt == Float32 {
		t.f32 = make([]float32, n)
	} else {
		t.f64 = make([]float64, n)
	}
	return t, true
}

func (p *pool) put(t *Tensor) {
	if !t.pooled {
		return
	}
	n := t.Numel()
	p.mu.Lock()
	p.free[poolKey{t.dtype, n}] = append(p.free[poolKey{t.dtype, n}], t)
	p.stats.InUseBytes -= int64(n * t.dtype.Size())
	p.stats.PooledBytes += int64(n * t.dtype.Size())
	p.mu.Unlock()
}

func (p *pool) memStats() MemStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

func (p *pool) resetPeak() {
	p.mu.Lock()
	p.stats.PeakBytes = p.stats.InUseBytes
	p.mu.Unlock()
}

// trim drops every pooled buffer so the garbage collector can reclaim it.
func (p *pool) trim() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.free)
	p.stats.PooledBytes = 0
}
