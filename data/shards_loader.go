package data

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/fdsm-go/fdsm/tensor"
)

// ShardLoaderOptions configures NewShardLoader. Zero values take the
// defaults noted.
type ShardLoaderOptions struct {
	Paths   []string           // the shard files; the sampler's shard i is Paths[i]
	Sampler ShardSampler       // its Shards is set to len(Paths)
	Image   ImageFolderOptions // Size (default 32), Channels, Resize
	// Transforms run in order on each decoded sample (its random ones
	// seeded by the sampler's seed, the epoch, the shard and the key);
	// the batches hold their output shape.
	Transforms []Transform
	Decoder    string // "go", "libjpeg-turbo" or "" (the best JPEGDecoders has)
	BatchSize  int
	Prefetch   int // completed batches queued ahead of Next (default 2)
	// Decoders is the number of decoding goroutines (default twice
	// GOMAXPROCS: with one per core the cores were busy only 77-82% of the
	// time, decoders waiting for their next record; docs/benchmarks.md).
	Decoders int
	// MaxBad is how many bad inputs (unusable records, corrupt images,
	// truncated or unreadable shards) an epoch may skip on this rank before
	// Next fails; negative: no limit.
	MaxBad int
	// OnBad, if set, is told of each bad input as it is skipped (from the
	// loader's goroutine): log it there.
	OnBad   func(BadInput)
	Backend tensor.Backend // default tensor.DefaultCPU(); batches are float32
}

// BadInput is one skipped input: the shard file, the record's key (empty
// for a shard that ends early) and why.
type BadInput struct {
	Shard, Key string
	Err        error
}

func (b BadInput) Error() string {
	if b.Key == "" {
		return fmt.Sprintf("%s: %v", b.Shard, b.Err)
	}
	return fmt.Sprintf("%s: record %s: %v", b.Shard, b.Key, b.Err)
}

// ShardBatch is one assembled batch: X is [B, C, S, S], and Labels (-1
// where a record has no .cls), Keys and Shards (indices into Paths) have
// length B. It belongs to the caller until Release, as with Batch.
type ShardBatch struct {
	X      *tensor.Tensor
	Labels []int
	Keys   []string
	Shards []int
	slot   *shardSlot
	gen    uint64
}

// ShardLoader streams an epoch of tar shards on one rank: Workers streams
// (goroutines) read the rank's shards through the shuffle buffer, a
// producer goroutine takes their records in rotation and Decoders
// goroutines decode them straight into the batch tensor, Prefetch batches
// ahead of the consumer. The order of records, the batches and State do
// not depend on timing or on Decoders; bad inputs are skipped (the next
// good record takes the place) and counted.
//
// With the sampler's Counts (the shard index) the loader is counted:
// every rank's epoch is EpochBatches full batches, so all ranks end it
// together; a bad record keeps its place, filled from the batch's good
// records; and State is the whole world's position, computed.
//
// Threading: Start, Next, State and Close are for one consumer goroutine;
// Release, Bad and WaitStats may be called from any.
type ShardLoader struct {
	o       ShardLoaderOptions
	paths   []string
	sampler ShardSampler
	per     int // values per sample in a batch (after the transforms)
	chain   transformChain
	host    bool
	q       prefetcher[*shardSlot]
	state   ShardState // the consumer's position
	// Counted: the state Start began at (regrouped) laid out, and the
	// batches Next has returned since.
	counted   *countedRun
	delivered int
	bad       atomic.Int64
}

// NewShardLoader checks the options; Start begins an epoch.
func NewShardLoader(o ShardLoaderOptions) (*ShardLoader, error) {
	if len(o.Paths) == 0 {
		return nil, errors.New("data: shard loader needs shard files")
	}
	o.Sampler.Shards = len(o.Paths)
	if err := o.Sampler.Validate(); err != nil {
		return nil, fmt.Errorf("data: shard loader: %w", err)
	}
	img, err := o.Image.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("data: shard loader: %w", err)
	}
	o.Image = img
	if o.BatchSize < 1 || o.Prefetch < 0 || o.Decoders < 0 {
		return nil, fmt.Errorf("data: shard loader: batch size %d, prefetch %d, decoders %d", o.BatchSize, o.Prefetch, o.Decoders)
	}
	if o.Prefetch == 0 {
		o.Prefetch = 2
	}
	if o.Decoders == 0 {
		o.Decoders = 2 * runtime.GOMAXPROCS(0)
	}
	if o.Backend == nil {
		o.Backend = tensor.DefaultCPU()
	}
	d, err := NewJPEGDecoder(o.Decoder, o.Image) // fails early on a decoder this build lacks
	if err != nil {
		return nil, fmt.Errorf("data: shard loader: %w", err)
	}
	o.Decoder = d.Name()
	d.Close()
	probe := o.Backend.Empty(tensor.Float32, 1)
	host := probe.IsHost()
	o.Backend.Release(probe)
	chain, err := newTransformChain(o.Transforms, []int{img.Channels, img.Size, img.Size})
	if err != nil {
		return nil, fmt.Errorf("data: shard loader: %w", err)
	}
	l := &ShardLoader{o: o, paths: o.Paths, sampler: o.Sampler, host: host, chain: chain, per: chain.outN()}
	l.q.what = "shard loader"
	return l, nil
}

// Shape is the shape of one sample: [C, S, S], or what the transforms
// make of it.
func (l *ShardLoader) Shape() []int { return l.chain.outShape() }

// Decoder names the JPEG decoder in use.
func (l *ShardLoader) Decoder() string { return l.o.Decoder }

// Start begins (or resumes) the epoch at st: Sampler().Start(e) for a
// fresh epoch, a merged ShardState to resume, of any world size.
func (l *ShardLoader) Start(st ShardState) error {
	if err := l.q.restart(); err != nil {
		return err
	}
	if st.World != l.sampler.World || st.Workers != l.sampler.Workers {
		var err error
		if st, err = l.sampler.Regroup(st); err != nil {
			return l.q.fail(fmt.Errorf("data: shard loader: %w", err))
		}
	}
	pieces, pos, next, err := l.sampler.RankStreams(st)
	if err != nil {
		return l.q.fail(fmt.Errorf("data: shard loader: %w", err))
	}
	l.state = st.clone()
	l.bad.Store(0)
	limit := -1
	if l.sampler.Counts != nil {
		c := l.sampler.newCountedRun(st.clone())
		limit, l.counted, l.delivered = c.batches(l.o.BatchSize), &c, 0
	}
	l.startRun(st.Epoch, pieces, pos, next, limit)
	return nil
}

// Sampler returns the loader's sampler.
func (l *ShardLoader) Sampler() ShardSampler { return l.sampler }

// State is this rank's position after the batches Next has returned; its
// entries for other ranks are those Start was given. Merge all ranks'
// states (MergeShardStates) to checkpoint the world. A counted loader's
// State is the world's: every rank has taken as many batches.
func (l *ShardLoader) State() ShardState {
	if l.counted != nil {
		return l.counted.at(l.delivered * l.o.BatchSize)
	}
	return l.state.clone()
}

// Bad is the number of bad inputs skipped in the current epoch so far.
func (l *ShardLoader) Bad() int64 { return l.bad.Load() }

// Wait is the total time Next has blocked waiting for a batch.
func (l *ShardLoader) Wait() time.Duration { return l.q.wait() }

// Next returns the next batch, io.EOF after the epoch's last, or the error
// that stopped the epoch (too many bad inputs). Release the batch when done.
func (l *ShardLoader) Next() (ShardBatch, error) {
	s, gen, err := l.q.next()
	if err != nil {
		return ShardBatch{}, err
	}
	for w, p := range s.pos {
		l.state.Streams[w*l.sampler.World+l.sampler.Rank] = p
	}
	l.state.Next[l.sampler.Rank] = s.next
	l.delivered++
	n := len(s.labels)
	return ShardBatch{X: s.out, Labels: s.labels[:n], Keys: s.keys[:n], Shards: s.shards[:n], slot: s, gen: gen}, nil
}

// Release hands the batch's memory back to the loader; a second Release
// does nothing.
func (b ShardBatch) Release() {
	if b.slot != nil {
		b.slot.l.q.release(b.slot, b.gen)
	}
}

// Close stops the goroutines and waits for them. It is idempotent.
func (l *ShardLoader) Close() error {
	l.q.close()
	return nil
}
