package driver

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"testing"
	"unsafe"
)

// TestContextCurrentInEveryCall runs every kind of call from goroutines,
// half locked to their own OS threads and half free to move, each
// alternating between two devices' contexts. The fake logs each call with
// its thread; checkContexts then proves that every call needing a context
// came right after a cuCtxSetCurrent of the right context on that thread,
// i.e. inside the same C call, whatever thread the goroutine was on.
func TestContextCurrentInEveryCall(t *testing.T) {
	f := newFake(t, map[string]string{"FAKE_CUDA_DEVICES": "2", "FAKE_CUDA_MEM_LIMIT": "1048576"}, fakeLibs{})
	ctxs := []*Context{f.ctx(0), f.ctx(1)}
	const workers, rounds = 8, 12
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, workers)
	for w := range workers {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			if w%2 == 0 { // held by its thread while waiting: several threads at once
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
			}
			ready.Done()
			<-start
			errs <- workRounds(ctxs, w, rounds)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := f.checkContexts(); n < workers/2 {
		t.Errorf("calls ran on %d threads, want at least %d: the test proves little", n, workers/2)
	}
}

// workRounds makes, per round, one call of each kind on a context chosen
// by round, so one goroutine (and one locked thread) keeps switching.
func workRounds(ctxs []*Context, w, rounds int) error {
	type onCtx struct {
		s    *Stream
		e    *Event
		fill *Function
		b    *Blas
	}
	per := make([]onCtx, len(ctxs))
	for i, c := range ctxs {
		var err error
		o := &per[i]
		if o.s, err = c.NewStream(StreamNonBlocking); err != nil {
			return err
		}
		if o.e, err = c.NewEvent(EventDisableTiming); err != nil {
			return err
		}
		m, err := c.LoadModule(fakePTX)
		if err != nil {
			return err
		}
		if o.fill, err = m.Function("fill_f32"); err != nil {
			return err
		}
		if o.b, err = c.NewBlas(); err != nil {
			return err
		}
		if err := o.b.SetStream(o.s); err != nil {
			return err
		}
	}
	for r := range rounds {
		i := (w + r) % len(ctxs)
		if err := oneRound(ctxs[i], per[i].s, per[i].e, per[i].fill, per[i].b, float32(w*100+r)); err != nil {
			return fmt.Errorf("worker %d round %d on context %d: %w", w, r, i+1, err)
		}
	}
	return nil
}

func oneRound(c *Context, s *Stream, e *Event, fill *Function, b *Blas, v float32) error {
	const n = 4
	p, err := c.Alloc(3 * n * 4)
	if err != nil {
		return err
	}
	x := []float32{v, 1, 2, 3}
	steps := []func() error{
		func() error { return s.CopyHtoD(p, unsafe.Pointer(&x[0]), n*4) },
		func() error { return s.Memset(p+n*4, 0, n*4) },
		func() error {
			return fill.Launch([3]uint32{1, 1, 1}, [3]uint32{n, 1, 1}, 0, s,
				[]uint64{uint64(p + n*4), n, uint64(math.Float32bits(2))})
		},
		// C (1×1) = x[0]·2: A is x's first element, B the filled 2s.
		func() error {
			return b.Sgemm(Gemm{M: 1, N: 1, K: 1, A: p, LDA: 1, B: p + n*4, LDB: 1, C: p + 2*n*4, LDC: 1}, 1, 0)
		},
		func() error { return s.CopyDtoD(p+2*n*4+4, p+2*n*4, 4) },
		func() error { return e.Record(s) },
		func() error { _, err := e.Query(); return err },
		func() error { return s.WaitEvent(e) },
		func() error { _, err := s.Query(); return err },
		func() error { _, _, err := c.MemInfo(); return err },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	got := make([]float32, 2)
	if err := s.CopyDtoH(unsafe.Pointer(&got[0]), p+2*n*4, 8); err != nil {
		return err
	}
	if got[0] != 2*v || got[1] != 2*v {
		return fmt.Errorf("computed %v, want 2·%v twice", got, v)
	}
	return c.Free(p)
}
