package data

// What the Loader and the ShardLoader share: the pool of recycled batch
// buffers (slots), the channels of an epoch's run, and the consumer's side
// of Next, Release and Close.

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// slotTag is a slot's hand-out state, embedded in each slot type. gen
// counts hand-outs, so that a batch from an earlier hand-out of a reused
// slot cannot release it.
type slotTag struct {
	held bool // handed to the consumer and not yet released
	gen  uint64
}

func (t *slotTag) tag() *slotTag { return t }

// slot is a pointer to a batch buffer that embeds slotTag.
type slot interface {
	comparable
	tag() *slotTag
	releaseTensors() // frees its memory once the loader is closed
}

// prefetchItem is what a run queues: a filled slot, or the error that
// ended the epoch (and no slot).
type prefetchItem[S slot] struct {
	slot S
	err  error
}

// prefetchRun is one epoch's channels.
type prefetchRun[S slot] struct {
	stop  chan struct{}        // closed to cancel the producer
	ready chan prefetchItem[S] // completed batches; closed at the end of the epoch
	done  chan struct{}        // closed once every goroutine of the run has exited
}

// prefetcher is a loader's slot pool, its current run and the consumer's
// side of them.
//
// Threading: restart, newRun, next, stopRun and close are for the loader's
// consumer goroutine, which alone writes run, err and closed; get, put,
// release and wait may be called from any; send is for the run's producer.
type prefetcher[S slot] struct {
	what   string // "loader" or "shard loader", for errors
	mu     sync.Mutex
	free   []S
	closed bool
	run    *prefetchRun[S]
	err    error // sticky until restart
	waitNS atomic.Int64
}

// restart cancels the running epoch and clears the error, before a new
// epoch; it fails once closed.
func (q *prefetcher[S]) restart() error {
	if q.closed {
		return ErrLoaderClosed
	}
	q.stopRun()
	q.err = nil
	return nil
}

// fail makes err sticky (Next returns it until restart) and returns it.
func (q *prefetcher[S]) fail(err error) error {
	q.err = err
	return err
}

// newRun makes the current run, depth batches deep; the caller starts its
// producer.
func (q *prefetcher[S]) newRun(depth int) *prefetchRun[S] {
	q.run = &prefetchRun[S]{stop: make(chan struct{}), ready: make(chan prefetchItem[S], depth), done: make(chan struct{})}
	return q.run
}

// next takes the next batch of the run and hands its slot out, returning
// the hand-out's gen for release.
func (q *prefetcher[S]) next() (S, uint64, error) {
	var none S
	switch {
	case q.err != nil:
		return none, 0, q.err
	case q.closed:
		return none, 0, ErrLoaderClosed
	case q.run == nil:
		return none, 0, errors.New("data: " + q.what + ": Next before Start")
	}
	t0 := time.Now()
	it, ok := <-q.run.ready
	q.waitNS.Add(int64(time.Since(t0)))
	if !ok {
		return none, 0, io.EOF
	}
	if it.err != nil {
		q.stopRun()
		return none, 0, q.fail(it.err)
	}
	t := it.slot.tag()
	q.mu.Lock()
	defer q.mu.Unlock()
	t.held = true
	t.gen++
	return it.slot, t.gen, nil
}

// release takes back the slot of hand-out gen. Only the first release of
// the latest hand-out counts.
func (q *prefetcher[S]) release(s S, gen uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if t := s.tag(); t.held && t.gen == gen {
		t.held = false
		q.putLocked(s)
	}
}

// get takes a free slot; the zero S if there is none.
func (q *prefetcher[S]) get() S {
	q.mu.Lock()
	defer q.mu.Unlock()
	var s S
	if k := len(q.free); k > 0 {
		s, q.free = q.free[k-1], q.free[:k-1]
	}
	return s
}

func (q *prefetcher[S]) put(s S) {
	q.mu.Lock()
	q.putLocked(s)
	q.mu.Unlock()
}

// putLocked frees s instead once closed: nothing would reuse it.
func (q *prefetcher[S]) putLocked(s S) {
	if q.closed {
		s.releaseTensors()
		return
	}
	q.free = append(q.free, s)
}

// send queues it, or, if run stops first, recycles its slot and returns
// false.
func (q *prefetcher[S]) send(run *prefetchRun[S], it prefetchItem[S]) bool {
	select {
	case run.ready <- it:
		return true
	case <-run.stop:
		q.recycle(it)
		return false
	}
}

func (q *prefetcher[S]) recycle(it prefetchItem[S]) {
	var none S
	if it.slot != none {
		q.put(it.slot)
	}
}

// stopRun cancels the running epoch, recycles the batches it had queued
// and waits for its goroutines.
func (q *prefetcher[S]) stopRun() {
	run := q.run
	if run == nil {
		return
	}
	q.run = nil
	close(run.stop)
	for it := range run.ready { // drain so the producer can exit
		q.recycle(it)
	}
	<-run.done
}

// close stops the run and frees the pooled slots; slots the consumer holds
// are freed as they are released. A second close does nothing.
func (q *prefetcher[S]) close() {
	if q.closed {
		return
	}
	q.stopRun()
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	for _, s := range q.free {
		s.releaseTensors()
	}
	q.free = nil
}

// wait is the total time next has blocked waiting for a batch.
func (q *prefetcher[S]) wait() time.Duration { return time.Duration(q.waitNS.Load()) }
