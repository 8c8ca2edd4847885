package trainer

import (
	"context"
	"fmt"
	"math"
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

// statSlots are extra elements at the end of the first bucket that carry
// per-rank step statistics through the same all-reduce: the loss, a bad
// flag (so every rank agrees to skip a step one rank found bad) and rank
// 0's operator command (so every rank obeys it at the same step).
const statSlots = 3

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
// complete in, because ranks must issue collectives in the same order.
//
// Threading: prepare, ready and finish are called from the training
// goroutine; one worker goroutine per step packs, reduces and unpacks
// buckets in launch order, each after an event recorded when it launched,
// so its work follows the computation of its gradients on the backend's
// queue (a device's communication queue waits on it the same way). A
// parameter's gradient is read and written by the
// worker only between its ready call and finish returning.
type reducer struct {
	comm    collective.Comm
	buckets []*bucket
	of      map[*autodiff.Param]*bucket
	be      tensor.Backend

	next    int // next bucket to launch
	launch  chan launched
	result  chan error
	stats   [statSlots]float64
	statBuf *tensor.Tensor // stats staged for the first bucket, reused every step
	arrival time.Time      // when this rank launched the step's first bucket
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
		if b.index == 0 {
			n += statSlots
		}
		b.flat = r.be.Zeros(dt, n)
		if !b.flat.IsHost() {
			b.host = tensor.NewHost(dt, n)
		}
	}
	r.statBuf = r.be.Zeros(dt, statSlots)
	return r, nil
}

// prepare starts a synchronised backward: loss and bad are this rank's
// statistics for the step; the worker goroutine starts.
func (r *reducer) prepare(ctx context.Context, loss float64, bad bool, cmd command) {
	r.ctx = ctx
	r.stats = [statSlots]float64{loss, 0, float64(cmd)}
	if bad {
		r.stats[1] = 1
	}
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

// finish launches what backward did not complete (a rank that skipped
// backward after a bad loss still takes part), waits for every bucket, and
// returns the mean loss over ranks, whether any rank was bad, the command
// rank 0 passed, and how long it waited here (collective time not hidden
// behind backward).
func (r *reducer) finish() (loss float64, bad bool, cmd command, wait time.Duration, err error) {
	t0 := time.Now()
	for ; r.next < len(r.buckets); r.next++ {
		if r.next == 0 {
			r.arrival = time.Now()
		}
		r.launch <- launched{r.buckets[r.next], r.be.Record()}
	}
	close(r.launch)
	err = <-r.result
	wait = time.Since(t0)
	if err != nil {
		return 0, false, 0, wait, err
	}
	// Read the statistics alone, not the whole first bucket.
	st := r.buckets[0].flat
	r.be.Slice(r.statBuf, st, 0, st.Numel()-statSlots)
	v := r.statBuf.ToFloat64s()
	cmd = command(math.Round(v[2] * float64(r.comm.Size())))
	return v[0], v[1] > 0, cmd, wait, nil
}

// work packs, reduces (average over ranks) and unpacks buckets in order.
func (r *reducer) work(launch <-chan launched, result chan<- error) {
	var err error
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
		if b.index == 0 {
			n := b.flat.Numel()
			tensor.WriteAs(r.statBuf, r.stats[:])
			r.be.SetSlice(b.flat, r.statBuf, 0, n-statSlots)
		}
		if err = r.allReduce(b); err != nil {
			continue
		}
		for i, p := range b.params {
			n := p.Value.Numel()
			r.be.Slice(p.Grad.Reshape(n), b.flat, 0, b.offsets[i])
		}
	}
	result <- err
}

// allReduce averages b.flat over the ranks. The communicator (the host
// ring) reads host memory, so a device bucket goes through its host copy:
// the typed read waits for the work that packed it.
func (r *reducer) allReduce(b *bucket) error {
	if b.host == nil {
		return r.comm.AllReduce(r.ctx, b.flat, collective.Average)
	}
	if b.host.DType() == tensor.Float32 {
		r.be.ReadFloat32s(b.host.Float32s(), b.flat)
	} else {
		r.be.ReadFloat64s(b.host.Float64s(), b.flat)
	}
	if err := r.comm.AllReduce(r.ctx, b.host, collective.Average); err != nil {
		return err
	}
	if b.host.DType() == tensor.Float32 {
		r.be.WriteFloat32s(b.flat, b.host.Float32s())
	} else {
		r.be.WriteFloat64s(b.flat, b.host.Float64s())
	}
	return nil
}
