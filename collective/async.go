package collective

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/fdsm-go/fdsm/tensor"
)

// Work is a collective in flight. Its buffers belong to the collective until
// Wait returns.
type Work interface {
	// Wait blocks until the collective ended and returns its error. If ctx
	// ends first, Wait aborts the communicator (a half-done collective
	// cannot be left behind: its buffers are still in use) and returns once
	// the collective has ended, which the Comm's timeout bounds.
	Wait(ctx context.Context) error
}

// AsyncComm issues a Comm's collectives without blocking the caller, so
// that gradient buckets reduce while backward still runs. Collectives run
// in the order they were issued (the order every rank must agree on); each
// returns a Work to wait for.
//
// Threading: issue from one goroutine at a time, as with Comm; Work.Wait
// may be called from any goroutine. Close waits for the issued work.
type AsyncComm interface {
	AllReduce(ctx context.Context, buf *tensor.Tensor, op ReduceOp) Work
	ReduceScatter(ctx context.Context, send, recv *tensor.Tensor, op ReduceOp) Work
	Broadcast(ctx context.Context, buf *tensor.Tensor, root int) Work
	AllGather(ctx context.Context, send, recv *tensor.Tensor) Work
	Barrier(ctx context.Context) Work
	// Comm is the communicator the work runs on.
	Comm() Comm
	Close()
}

// NativeAsync is implemented by a Comm that enqueues collectives without
// a goroutine of its own (NCCL on a stream).
type NativeAsync interface {
	Async() AsyncComm
}

// Async returns c's asynchronous form: its own when it has one
// (NativeAsync), otherwise a queue that runs the collectives in issue order
// on one goroutine.
func Async(c Comm) AsyncComm {
	if a, ok := c.(NativeAsync); ok {
		return a.Async()
	}
	q := &queue{comm: c, jobs: make(chan *queued, 64), done: make(chan struct{})}
	go q.run()
	return q
}

// queue runs a Comm's collectives on its goroutine.
type queue struct {
	comm      Comm
	jobs      chan *queued
	done      chan struct{}
	closeOnce sync.Once
}

type queued struct {
	ctx  context.Context
	run  func(ctx context.Context) error
	err  error
	done chan struct{}
}

func (q *queue) run() {
	defer close(q.done)
	for j := range q.jobs {
		j.err = j.run(j.ctx)
		close(j.done)
	}
}

func (q *queue) issue(ctx context.Context, f func(ctx context.Context) error) Work {
	j := &queued{ctx: ctx, run: f, done: make(chan struct{})}
	q.jobs <- j
	return &queuedWork{q: q, j: j}
}

func (q *queue) AllReduce(ctx context.Context, buf *tensor.Tensor, op ReduceOp) Work {
	return q.issue(ctx, func(ctx context.Context) error { return q.comm.AllReduce(ctx, buf, op) })
}

func (q *queue) ReduceScatter(ctx context.Context, send, recv *tensor.Tensor, op ReduceOp) Work {
	return q.issue(ctx, func(ctx context.Context) error { return q.comm.ReduceScatter(ctx, send, recv, op) })
}

func (q *queue) Broadcast(ctx context.Context, buf *tensor.Tensor, root int) Work {
	return q.issue(ctx, func(ctx context.Context) error { return q.comm.Broadcast(ctx, buf, root) })
}

func (q *queue) AllGather(ctx context.Context, send, recv *tensor.Tensor) Work {
	return q.issue(ctx, func(ctx context.Context) error { return q.comm.AllGather(ctx, send, recv) })
}

func (q *queue) Barrier(ctx context.Context) Work {
	return q.issue(ctx, func(ctx context.Context) error { return q.comm.Barrier(ctx) })
}

func (q *queue) Comm() Comm { return q.comm }

// Close waits for the issued work and stops the queue's goroutine.
func (q *queue) Close() {
	q.closeOnce.Do(func() { close(q.jobs) })
	<-q.done
}

type queuedWork struct {
	q *queue
	j *queued
}

// ErrWaitAbandoned wraps the context's error when Wait gave up waiting and
// aborted the communicator.
var ErrWaitAbandoned = errors.New("stopped waiting for a collective")

func (w *queuedWork) Wait(ctx context.Context) error {
	select {
	case <-w.j.done:
		return w.j.err
	case <-ctx.Done():
	}
	reason := fmt.Errorf("%w: %w", ErrWaitAbandoned, context.Cause(ctx))
	w.q.comm.Abort(reason)
	<-w.j.done
	if w.j.err == nil {
		return nil // it finished meanwhile
	}
	return w.j.err
}

// WaitAll waits for every work in order and returns the first error.
func WaitAll(ctx context.Context, ws ...Work) error {
	var first error
	for _, w := range ws {
		if err := w.Wait(ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}
