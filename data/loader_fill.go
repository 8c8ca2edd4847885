package data

// The Loader's background side: the producer goroutine that assembles
// batches in order, its workers, and the recycled batch buffers.

import (
	"fmt"
	"sync"

	"github.com/fdsm-go/fdsm/tensor"
)

// loaderJob asks a worker to fill samples [from, to) of a batch.
type loaderJob struct {
	slot        *batchSlot
	k, from, to int    // k numbers the job within its batch
	seed        uint64 // the epoch's transform seed
}

// loaderWorker owns the scratch buffers and the generator one goroutine uses
// to read and transform samples, so a steady-state batch allocates nothing.
type loaderWorker struct {
	l    *Loader
	bufs [2][]float32 // ping-pong buffers between transforms
	rng  *tensor.RNG
}

// fill reads, transforms and stores the job's samples. A float32 batch
// receives the last step's output directly (in place on the host, in the
// staging buffer for a device); float64 batches take a conversion.
func (w *loaderWorker) fill(j loaderJob) {
	l, s := w.l, j.slot
	direct := l.dt == tensor.Float32
	for p := j.from; p < j.to; p++ {
		i := s.indices[p]
		var out []float32
		if direct {
			all := s.stage32
			if l.host {
				all = s.x.Float32s()
			}
			out = all[p*l.outN : (p+1)*l.outN]
		}
		src, cur := w.bufs[0][:l.numels[0]], 0
		if direct && len(l.ts) == 0 {
			src = out
		}
		label, err := l.ds.Get(i, src)
		if err != nil {
			s.errs[j.k] = fmt.Errorf("sample %d: %w", i, err)
			return
		}
		if len(l.ts) > 0 {
			w.rng.Reseed(mixSeeds(j.seed, uint64(i)))
		}
		for k, t := range l.ts {
			dst := w.bufs[1-cur][:l.numels[k+1]]
			if direct && k == len(l.ts)-1 {
				dst = out
			}
			t.Apply(dst, src, l.shapes[k], w.rng)
			src, cur = dst, 1-cur
		}
		if !direct {
			dst := s.stage64
			if l.host {
				dst = s.x.Float64s()
			}
			for q, v := range src {
				dst[p*l.outN+q] = float64(v)
			}
		}
		s.labels[p] = label
	}
}

type batchSlot struct {
	l *Loader
	x *tensor.Tensor
	// Device backends: the batch on the host before its one typed write.
	stage32 []float32
	stage64 []float64
	labels  []int
	indices []int
	errs    []error // per job of the batch being filled
	slotTag
}

type (
	loaderItem = prefetchItem[*batchSlot]
	loaderRun  = prefetchRun[*batchSlot]
)

func (s *batchSlot) releaseTensors() {
	if s.x != nil {
		s.l.be.Release(s.x)
	}
	s.x = nil
}

// slot returns a free batch buffer sized for n samples.
func (l *Loader) slot(n int) *batchSlot {
	s := l.q.get()
	if s == nil {
		s = &batchSlot{l: l}
		l.buffers.Add(1)
	}
	if s.x == nil || s.x.Dim(0) != n { // first use, or the partial last batch
		if s.x != nil {
			l.be.Release(s.x)
		}
		s.x = l.be.Empty(l.dt, append([]int{n}, l.OutShape()...)...)
	}
	if !l.host && l.dt == tensor.Float32 && len(s.stage32) != n*l.outN {
		s.stage32 = make([]float32, n*l.outN)
	}
	if !l.host && l.dt == tensor.Float64 && len(s.stage64) != n*l.outN {
		s.stage64 = make([]float64, n*l.outN)
	}
	if cap(s.indices) < n {
		s.indices, s.labels = make([]int, n), make([]int, n)
	}
	if s.errs == nil {
		s.errs = make([]error, len(l.workers))
	}
	s.indices, s.labels = s.indices[:n], s.labels[:n]
	return s
}

// produce assembles the batches of idx in order and queues them, until the
// epoch ends, a sample fails, or run.stop closes.
func (l *Loader) produce(run *loaderRun, epoch int, idx []int) {
	jobs := make(chan loaderJob, len(l.workers))
	var exited, batchDone sync.WaitGroup
	for _, w := range l.workers {
		exited.Add(1)
		go func() {
			defer exited.Done()
			for j := range jobs {
				w.fill(j)
				batchDone.Done()
			}
		}()
	}
	defer func() {
		close(jobs)
		exited.Wait()
		close(run.ready)
		close(run.done)
	}()
	epochSeed := mixSeeds(l.seed, uint64(epoch))
	for b := range loaderBatches(len(idx), l.batch, l.dropLast) {
		select {
		case <-run.stop:
			return
		default:
		}
		lo, hi := b*l.batch, min((b+1)*l.batch, len(idx))
		s := l.slot(hi - lo)
		copy(s.indices, idx[lo:hi])
		per := (hi - lo + len(l.workers) - 1) / len(l.workers)
		for k, from := 0, 0; from < hi-lo; k, from = k+1, from+per {
			batchDone.Add(1)
			jobs <- loaderJob{slot: s, k: k, from: from, to: min(from+per, hi-lo), seed: epochSeed}
		}
		batchDone.Wait()
		it := loaderItem{slot: s}
		if err := s.firstError(); err != nil {
			l.q.put(s)
			it = loaderItem{err: fmt.Errorf("data: loader for %s, epoch %d: %w", l.ds.Name(), epoch, err)}
		} else if !l.host && l.dt == tensor.Float32 {
			l.be.WriteFloat32s(s.x, s.stage32)
		} else if !l.host {
			l.be.WriteFloat64s(s.x, s.stage64)
		}
		if !l.q.send(run, it) || it.err != nil {
			return
		}
	}
}

// firstError returns the error of the earliest failed job of the batch (jobs
// fill consecutive ranges), so which error surfaces does not depend on
// timing, and clears them all.
func (s *batchSlot) firstError() error {
	var first error
	for k, err := range s.errs {
		if first == nil {
			first = err
		}
		s.errs[k] = nil
	}
	return first
}

func loaderBatches(n, b int, dropLast bool) int {
	if dropLast {
		return n / b
	}
	return (n + b - 1) / b
}

func loaderNumel(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}
