package data

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/fdsm-go/fdsm/tensor"
)

// LoaderOptions configures NewLoader. Zero values take the defaults noted.
type LoaderOptions struct {
	Dataset    Dataset
	Sampler    *Sampler    // nil: every sample in order, one rank (evaluation)
	Transforms []Transform // applied in order to each sample
	BatchSize  int
	DropLast   bool           // drop the epoch's partial last batch instead of yielding it
	Prefetch   int            // completed batches queued ahead of Next, plus one in assembly (default 2)
	Workers    int            // goroutines filling one batch's samples (default GOMAXPROCS)
	Backend    tensor.Backend // default tensor.DefaultCPU()
	DType      tensor.DType   // default Float32
	Seed       uint64         // seeds the random transforms
}

// Batch is one assembled batch. X is [B, sample shape after transforms...];
// Labels (-1 where unlabelled) and Indices (dataset indices, in sampler
// order) have length B.
//
// Ownership: the batch, its tensor and its slices belong to the caller
// until it calls Release, which hands the memory back to the loader for a
// later batch. A batch that is never released stays valid but is not
// reused: the loader allocates a replacement, so release every batch once
// done with it (holding two at once, then releasing both, is fine).
type Batch struct {
	X       *tensor.Tensor
	Labels  []int
	Indices []int
	slot    *batchSlot
	gen     uint64
}

// WaitStats is the loader's "data wait" telemetry, cumulative since
// NewLoader.
type WaitStats struct {
	Wait    time.Duration // total time Next blocked waiting for a batch
	Batches int64         // batches returned by Next
	Buffers int64         // batch buffers allocated (grows only if batches are not released)
}

// ErrLoaderClosed is returned by Next and Start after Close.
var ErrLoaderClosed = errors.New("data: loader is closed")

// Loader assembles batches of a Dataset in a background goroutine, Prefetch
// batches ahead of the consumer, with Workers goroutines filling the samples
// of each batch in parallel directly into the batch tensor's memory (host
// backends) or into a reused host buffer that is then uploaded (device
// backends).
//
// Random transforms draw from a generator seeded by (Seed, epoch, dataset
// index), so batches are bitwise the same for any Workers count and timing.
// A sample that appears twice in one epoch (sampler padding) is transformed
// the same way both times.
//
// Threading: Start, Next, State and Close are for one consumer goroutine;
// Release and WaitStats may be called from any.
type Loader struct {
	ds         Dataset
	sampler    *Sampler
	ts         []Transform
	shapes     [][]int // shapes[k] is the input shape of ts[k]; the last is the output
	numels     []int   // element counts of shapes
	outN       int
	batch      int
	dropLast   bool
	prefetch   int
	be         tensor.Backend
	dt         tensor.DType
	host       bool
	seed       uint64
	workers    []*loaderWorker
	q          prefetcher[*batchSlot]
	epoch, pos int // consumer's position, for State
	offset     int // global position the epoch's shares were cut from
	batches    atomic.Int64
	buffers    atomic.Int64
}

// NewLoader checks the options and sizes the per-worker buffers. Start
// begins an epoch.
func NewLoader(o LoaderOptions) (*Loader, error) {
	if o.Dataset == nil {
		return nil, errors.New("data: loader needs a dataset")
	}
	name := o.Dataset.Name()
	l := &Loader{ds: o.Dataset, ts: o.Transforms, batch: o.BatchSize, dropLast: o.DropLast,
		prefetch: o.Prefetch, be: o.Backend, dt: o.DType, seed: o.Seed}
	l.q.what = "loader"
	l.sampler = &Sampler{N: o.Dataset.Len(), World: 1}
	if o.Sampler != nil {
		*l.sampler = *o.Sampler // a copy: later edits to the caller's do not race the producer
	}
	if err := l.sampler.Validate(); err != nil {
		return nil, fmt.Errorf("data: loader for %s: %w", name, err)
	}
	if l.sampler.N != o.Dataset.Len() {
		return nil, fmt.Errorf("data: loader for %s: sampler over %d samples, dataset has %d", name, l.sampler.N, o.Dataset.Len())
	}
	if o.BatchSize < 1 || o.Prefetch < 0 || o.Workers < 0 {
		return nil, fmt.Errorf("data: loader for %s: batch size %d, prefetch %d, workers %d", name, o.BatchSize, o.Prefetch, o.Workers)
	}
	if l.prefetch == 0 {
		l.prefetch = 2
	}
	if l.be == nil {
		l.be = tensor.DefaultCPU()
	}
	if l.dt == 0 {
		l.dt = tensor.Float32
	}
	shape := o.Dataset.Shape()
	l.shapes = [][]int{shape}
	for k := range l.ts {
		out, err := OutShapeOf(l.ts[:k+1], l.shapes[0]) // errors then name transform k
		if err != nil {
			return nil, fmt.Errorf("data: loader for %s: %w", name, err)
		}
		shape = out
		l.shapes = append(l.shapes, shape)
	}
	scratch := 0
	for _, s := range l.shapes {
		l.numels = append(l.numels, loaderNumel(s))
		scratch = max(scratch, l.numels[len(l.numels)-1])
	}
	l.outN = l.numels[len(l.numels)-1]
	probe := l.be.Empty(l.dt, 1)
	l.host = probe.IsHost()
	l.be.Release(probe)
	nw := o.Workers
	if nw == 0 {
		nw = runtime.GOMAXPROCS(0)
	}
	for range nw {
		w := &loaderWorker{l: l, rng: tensor.NewRNG(0)}
		w.bufs[0], w.bufs[1] = make([]float32, scratch), make([]float32, scratch)
		l.workers = append(l.workers, w)
	}
	return l, nil
}

// OutShape is the shape of one sample after the transforms. The caller must
// not modify it.
func (l *Loader) OutShape() []int { return l.shapes[len(l.shapes)-1] }

// BatchesPerEpoch is the number of batches a whole epoch yields on this rank.
func (l *Loader) BatchesPerEpoch() int {
	return loaderBatches(l.sampler.PerRank(), l.batch, l.dropLast)
}

// Start begins epoch epoch at position (the number of this rank's samples
// already consumed, from a saved State), cancelling any epoch in progress.
// Batches already returned by Next stay valid. An error (bad position,
// closed loader) is also returned by the next Next.
func (l *Loader) Start(epoch, position int) error {
	return l.StartAt(SamplerState{Epoch: epoch, Position: position})
}

// StartAt is Start from a full sampler state (including a reshard offset).
func (l *Loader) StartAt(st SamplerState) error {
	if err := l.q.restart(); err != nil {
		return err
	}
	idx, err := l.sampler.Resume(st)
	if err != nil {
		return l.q.fail(fmt.Errorf("data: loader for %s: %w", l.ds.Name(), err))
	}
	l.epoch, l.pos, l.offset = st.Epoch, st.Position, st.Offset
	go l.produce(l.q.newRun(l.prefetch), st.Epoch, idx)
	return nil
}

// Next returns the next batch of the epoch, io.EOF after its last, or the
// error that stopped the loader (a sample that could not be read, named by
// its index). Release the batch when done with it.
func (l *Loader) Next() (Batch, error) {
	s, gen, err := l.q.next()
	if err != nil {
		return Batch{}, err
	}
	l.pos += len(s.indices)
	l.batches.Add(1)
	return Batch{X: s.x, Labels: s.labels, Indices: s.indices, slot: s, gen: gen}, nil
}

// Release hands the batch's memory back to the loader. Releasing twice, or
// releasing the zero Batch, does nothing.
func (b Batch) Release() {
	if b.slot != nil {
		b.slot.l.q.release(b.slot, b.gen)
	}
}

// State is the consumer's position: the epoch and the number of this
// rank's samples returned by Next so far. Start(State()) resumes there.
func (l *Loader) State() SamplerState {
	return SamplerState{Epoch: l.epoch, Position: l.pos, Offset: l.offset}
}

// Sampler returns a copy of the loader's sampler.
func (l *Loader) Sampler() Sampler { return *l.sampler }

// WaitStats reports the data-wait telemetry.
func (l *Loader) WaitStats() WaitStats {
	return WaitStats{Wait: l.q.wait(), Batches: l.batches.Load(), Buffers: l.buffers.Load()}
}

// Close stops the background goroutines and waits for them to exit. Batches
// the consumer holds stay valid until released. Close is idempotent.
func (l *Loader) Close() error {
	l.q.close()
	return nil
}
