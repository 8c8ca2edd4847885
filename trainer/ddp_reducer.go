package trainer

import (
	"context"
	"fmt"
	"time"

	"github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/collective"
	"github.com/fdsm-go/fdsm/tensor"
)

// Default bucket sizes, as PyTorch DDP's: the first bucket small so that
// communication starts early in backward, the rest large so that per-call
// overhead stays small.
const (
	DefaultBucketBytes      = 25 << 20
	DefaultFirstBucketBytes = 1 << 20
)

// bucket is a group of parameters whose gradients are reduced in one
// collective through a flat buffer.
type bucket struct {
	index   int
	params  []*autodiff.Param
	offsets []int // element offset of each param in flat
	flat    *tensor.Tensor
	host    *tensor.Tensor // device backends: flat's host copy for the host ring
	waiting int            // params of this step not yet ready
}

// launched is a bucket handed to the worker, with the event after which
// its gradients are final.
type launched struct {
	b     *bucket
	ready tensor.Event
}

// reducer averages gradients across ranks in buckets filled in reverse
// parameter order, launching each bucket's all-reduce as soon as all its
// gradients are final while backward continues (autodiff.BackwardReady).
// Buckets launch in index order on every rank, whatever order gradients
// complete in, because ranks must issue collectives in the same order. A
// rank whose loss was bad has NaN gradients (its last micro-batch's loss is
// multiplied by deviceSteps.poison), so every rank's averaged gradient tells
// every rank to skip the step without a word on the host.
//
// Threading: prepare, ready, finish and close are called from the training
// goroutine; one worker goroutine per step packs buckets in launch order,
// each after an event recorded when it launched (so its work follows the
// computation of its gradients on the backend's queue, as a device's
// communication queue waits on it), issues their all-reduces on the
// communicator's asynchronous form, and unpacks them as they finish. A
// parameter's gradient is read and written by the worker only between its
// ready call and finish returning.
type reducer struct {
	comm    collective.Comm
	async   collective.AsyncComm
	buckets []*bucket
	of      map[*autodiff.Param]*bucket
	be      tensor.Backend

	next    int // next bucket to launch
	launch  chan launched
	result  chan error
	arrival time.Time // when this rank launched the step's first bucket
	ctx     context.Context
}

// newReducer assigns params (in model order) to buckets of about
// bucketBytes (firstBytes for the first), walking them in reverse.
func newReducer(comm collective.Comm, params []*autodiff.Param, firstBytes, bucketBytes int) (*reducer, error) {
	if len(params) == 0 {
		return nil, fmt.Errorf("data parallel: no trainable parameters")
	}
	if firstBytes <= 0 {
		firstBytes = DefaultFirstBucketBytes
	}
	if bucketBytes <= 0 {
		bucketBytes = DefaultBucketBytes
	}
	r := &reducer{comm: comm, of: map[*autodiff.Param]*bucket{}, be: params[0].Value.Backend()}
	dt := params[0].Value.DType()
	cur := &bucket{}
	limit, bytes := firstBytes, 0
	flush := func() {
		if len(cur.params) == 0 {
			return
		}
		cur.index = len(r.buckets)
		r.buckets = append(r.buckets, cur)
		cur = &bucket{}
		limit, bytes = bucketBytes, 0
	}
	for i := len(params) - 1; i >= 0; i-- {
		p := params[i]
		if p.Value.DType() != dt {
			return nil, fmt.Errorf("data parallel: parameter %s is %s, others %s", p.Name, p.Value.DType(), dt)
		}
		if bytes > 0 && bytes+p.Value.Bytes() > limit {
			flush()
		}
		cur.params = append(cur.params, p)
		bytes += p.Value.Bytes()
	}
	flush()
	for _, b := range r.buckets {
		n := 0
		for _, p := range b.params {
			b.offsets = append(b.offsets, n)
			n += p.Value.Numel()
			r.of[p] = b
		}
		b.flat = r.be.Zeros(dt, n)
		if !b.flat.IsHost() && collective.DeviceBackendOf(comm) != r.be {
			b.host = tensor.NewHost(dt, n) // the host ring reads host memory
		}
	}
	r.async = collective.Async(comm)
	return r, nil
}

// close stops the asynchronous form's goroutine.
func (r *reducer) close() { r.async.Close() }

// prepare starts a synchronised backward: the worker goroutine starts.
func (r *reducer) prepare(ctx context.Context) {
	r.ctx = ctx
	r.next = 0
	r.arrival = time.Time{}
	for _, b := range r.buckets {
		b.waiting = len(b.params)
	}
	r.launch = make(chan launched, len(r.buckets))
	r.result = make(chan error, 1)
	go r.work(r.launch, r.result)
}

// ready marks p's gradient final and launches every bucket that is now
// complete and next in order.
func (r *reducer) ready(p *autodiff.Param) {
	b, ok := r.of[p]
	if !ok {
		return // not a trainable parameter of this reducer
	}
	b.waiting--
	for r.next < len(r.buckets) && r.buckets[r.next].waiting <= 0 {
		if r.next == 0 {
			r.arrival = time.Now()
		}
		r.launch <- launched{r.buckets[r.next], r.be.Record()}
		r.next++
	}
}

// finish launches what backward did not complete, waits for every bucket,
// and returns how long it waited here (communication not hidden behind
// backward).
func (r *reducer) finish() (wait time.Duration, err error) {
	t0 := time.Now()
	for ; r.next < len(r.buckets); r.next++ {
		if r.next == 0 {
			r.arrival = time.Now()
		}
		r.launch <- launched{r.buckets[r.next], r.be.Record()}
	}
	close(r.launch)
	err = <-r.result
	return time.Since(t0), err
}

// work packs buckets in launch order and issues their all-reduces (average
// over ranks) without waiting, then waits for each in order and unpacks it.
// After a failure it still waits for what was issued: those buffers are in
// use until their collectives end.
func (r *reducer) work(launch <-chan launched, result chan<- error) {
	var err error
	type issued struct {
		b *bucket
		w collective.Work
	}
	var pending []issued
	for l := range launch {
		if err != nil {
			continue // drain; the first error is reported
		}
		b := l.b
		r.be.WaitFor(l.ready)
		for i, p := range b.params {
			n := p.Value.Numel()
			r.be.SetSlice(b.flat, p.Grad.Reshape(n), 0, b.offsets[i])
		}
		pending = append(pending, issued{b, r.allReduce(b)})
	}
	for _, p := range pending {
		werr := p.w.Wait(r.ctx)
		if werr == nil && p.b.host != nil {
			r.fromHost(p.b)
		}
		if err == nil {
			err = werr
		}
		if err != nil {
			continue
		}
		for i, q := range p.b.params {
			n := q.Value.Numel()
			r.be.Slice(q.Grad.Reshape(n), p.b.flat, 0, p.b.offsets[i])
		}
	}
	result <- err
}

// allReduce issues the average of b.flat over the ranks. The host ring
// reads host memory, so a device bucket goes through its host copy: the
// typed read waits for the work that packed it, and fromHost brings the
// result back.
func (r *reducer) allReduce(b *bucket) collective.Work {
	if b.host == nil {
		return r.async.AllReduce(r.ctx, b.flat, collective.Average)
	}
	if b.host.DType() == tensor.Float32 {
		r.be.ReadFloat32s(b.host.Float32s(), b.flat)
	} else {
		r.be.ReadFloat64s(b.host.Float64s(), b.flat)
	}
	return r.async.AllReduce(r.ctx, b.host, collective.Average)
}

func (r *reducer) fromHost(b *bucket) {
	if b.host.DType() == tensor.Float32 {
		r.be.WriteFloat32s(b.flat, b.host.Float32s())
	} else {
		r.be.WriteFloat64s(b.flat, b.host.Float64s())
	}
}
