package trainer

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/rs/zerolog"

	"github.com/fdsm-go/fdsm/data"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// batchSource is where a run's training batches come from: an indexed
// dataset read through a sampler (indexedSource) or a stream of tar shards
// (shardSource). Both start where a checkpoint left them and report a
// position that resumes exactly.
//
// Threading: the training goroutine only.
type batchSource interface {
	// next returns the epoch's next batch, io.EOF after its last.
	next() (trainBatch, error)
	// nextEpoch starts epoch e from its beginning.
	nextEpoch(e int) error
	// resume starts where st (a checkpoint's state; a fresh run's is
	// zero) left the data, in a world of world ranks, and returns the
	// epoch it starts in.
	resume(st trainState, world int, log zerolog.Logger) (int, error)
	// position is where the data stands after the batches next returned.
	position() dataPos
	close()
}

// dataPos is a position of a batchSource: an indexed dataset's sampler
// state, or, with Shards set, the world's position in an epoch of shards
// (its Epoch is then the shards' epoch).
type dataPos struct {
	data.SamplerState
	Shards     *data.ShardState
	ShardRanks []data.ShardState // data parallel, ranks in different epochs: each rank's own
	// world: Shards is already the world's position (indexed shards, where
	// every rank computes it), so nothing needs gathering.
	world bool
}

// epoch is the epoch pos is in (rank 0's when ranks differ).
func (p dataPos) epoch() int {
	switch {
	case p.Shards != nil:
		return p.Shards.Epoch
	case len(p.ShardRanks) > 0:
		return p.ShardRanks[0].Epoch
	}
	return p.Epoch
}

// trainBatch is one batch on the run's backend and dtype; Release hands its
// memory back.
type trainBatch struct {
	X       *tensor.Tensor
	release func()
}

// Release returns the batch's memory to its source (a zero batch: nothing).
func (b trainBatch) Release() {
	if b.release != nil {
		b.release()
	}
}

// indexedSource reads an indexed dataset through data.Loader.
type indexedSource struct{ l *data.Loader }

func (s indexedSource) next() (trainBatch, error) {
	b, err := s.l.Next()
	return trainBatch{X: b.X, release: b.Release}, err
}

func (s indexedSource) nextEpoch(e int) error { return s.l.Start(e, 0) }
func (s indexedSource) position() dataPos     { return dataPos{SamplerState: s.l.State()} }
func (s indexedSource) close()                { s.l.Close() }

func (s indexedSource) resume(st trainState, world int, log zerolog.Logger) (int, error) {
	if st.Shards != nil || st.ShardRanks != nil {
		return 0, errors.New("the checkpoint was trained on tar shards (it records a shard position); set data.shards as it was, not data.name")
	}
	sst := data.SamplerState{Epoch: st.Epoch, Position: st.Position, Offset: st.Offset}
	if old := max(st.World, 1); st.Step > 0 && old != world {
		smp := s.l.Sampler()
		sst = smp.Reshard(sst, old)
		log.Info().Int("from_world", old).Int("to_world", world).Int("epoch", sst.Epoch).Int("offset", sst.Offset).Msg("world size changed: data resharded")
	}
	return sst.Epoch, s.l.StartAt(sst)
}

// shardStreams is the number of shard streams a rank reads (each a
// sequential reader of whole shards); it is part of the sample order, so
// it does not follow the machine's core count (decoding does).
const shardStreams = 2

// shardSource streams tar shards through data.ShardLoader. Batches are
// float32 from the loader; a float64 run gets a converted copy. The
// epoch's partial last batch is dropped, as the indexed loader drops it.
//
// Data parallel, each rank streams whole shards of its own. With the
// shards' index (data.ShardIndexName, written by `fdsm data shard` and
// `fdsm data index`) every rank knows every rank's share, so all end each
// epoch at the same step and each computes the world's position. Without
// it a rank starts its next epoch when its own shards run out, so ranks
// may be in different epochs (their shards hold different record counts;
// steps stay in lockstep), its position is its own, and the checkpoint
// gathers every rank's (session.worldPos).
type shardSource struct {
	l     *data.ShardLoader
	be    tensor.Backend
	dt    tensor.DType
	batch int
	rank  int
	// counted: the shards' record counts are known (an index).
	counted bool
	// batches counts what next returned since the epoch started afresh
	// (-1 after a resume mid-epoch), empty the epochs in a row that gave
	// this rank no batch: a rank without a shard holding a batch would
	// start epoch after empty epoch forever.
	batches, empty int
}

// maxEmptyEpochs is how many epochs in a row may give a rank no batch (its
// shards, reshuffled each epoch, were all too small) before the run fails.
const maxEmptyEpochs = 3

// newShardSource opens the shards cfg.Data.Shards names, checks their
// images fit the model and logs each bad record as it is skipped.
func (r Run) newShardSource(m models.Model, be tensor.Backend, dt tensor.DType) (*shardSource, error) {
	dc := r.Config.Data
	paths, err := shardPaths(dc.Shards)
	if err != nil {
		return nil, err
	}
	img := data.ImageFolderOptions{Size: dc.ImageSize, Channels: dc.Channels}
	if img.Size == 0 {
		img.Size = 32
	}
	if img.Channels == 0 {
		img.Channels = 3
	}
	ts, err := data.ParseTransforms(dc.Transforms)
	if err != nil {
		return nil, fmt.Errorf("data.transforms: %w", err)
	}
	log := r.Log
	counts, err := shardCounts(paths, r.Dist.world(), log)
	if err != nil {
		return nil, err
	}
	l, err := data.NewShardLoader(data.ShardLoaderOptions{Paths: paths, Image: img, Transforms: ts, Decoder: dc.Decoder, BatchSize: r.Config.Batch,
		MaxBad: dc.MaxBad, Backend: be,
		Sampler: data.ShardSampler{Rank: r.Dist.rank(), World: r.Dist.world(), Workers: shardStreams, Seed: r.Config.Seed, Shuffle: true, Buffer: dc.ShuffleBuffer,
			Counts: counts},
		OnBad: func(b data.BadInput) {
			log.Warn().Str("shard", b.Shard).Str("key", b.Key).Err(b.Err).Msg("bad record skipped")
		}})
	if err != nil {
		return nil, fmt.Errorf("data.shards: %w", err)
	}
	if got, want := l.Shape(), m.InputShape(); tensor.Shape(got).Numel() != tensor.Shape(want).Numel() {
		l.Close()
		return nil, fmt.Errorf("data.shards gives %dx%dx%d images, %v after the transforms (%d values), but the model takes %v (%d values): set data.image_size and data.channels",
			img.Channels, img.Size, img.Size, got, tensor.Shape(got).Numel(), want, tensor.Shape(want).Numel())
	}
	return &shardSource{l: l, be: be, dt: dt, batch: r.Config.Batch, rank: r.Dist.rank(), counted: counts != nil}, nil
}

// shardCounts reads the record counts of paths from their index, warning
// of shards changed since it was written; without an index, data parallel
// runs are told what they miss.
func shardCounts(paths []string, world int, log zerolog.Logger) ([]int, error) {
	counts, stale, err := data.ShardCounts(paths)
	if err != nil {
		return nil, fmt.Errorf("data.shards: %w", err)
	}
	for _, p := range stale {
		log.Warn().Str("shard", p).Msg("shard size differs from its index: its indexed record count is used, records it lacks count as bad inputs (rerun `fdsm data index` if it was rewritten)")
	}
	if counts == nil && world > 1 {
		log.Info().Str("dir", filepath.Dir(paths[0])).Msg("no shard index (" + data.ShardIndexName + "): ranks' epochs end at different steps, an interrupt cannot checkpoint, and a checkpoint taken while ranks are in different epochs resumes only on the same world size; `fdsm data index DIR` writes one")
	}
	return counts, nil
}

// shardPaths lists the shard files spec names (data.ShardFiles: a
// directory's .tar files or a glob's matches, sorted).
func shardPaths(spec string) ([]string, error) {
	paths, err := data.ShardFiles(spec)
	if err != nil {
		return nil, fmt.Errorf("data.shards: %w (`fdsm data shard` writes them)", err)
	}
	return paths, nil
}

func (s *shardSource) next() (trainBatch, error) {
	b, err := s.l.Next()
	if err == nil && b.X.Dim(0) < s.batch {
		b.Release()
		err = io.EOF
	}
	if errors.Is(err, io.EOF) && s.batches == 0 {
		if s.empty++; s.empty >= maxEmptyEpochs {
			return trainBatch{}, fmt.Errorf("data.shards: %d epochs in a row gave rank %d less than a batch of %d good records (each rank reads whole shards of its own): use more or larger shards, or a smaller batch",
				s.empty, s.rank, s.batch)
		}
	}
	if err != nil {
		return trainBatch{}, err
	}
	s.batches, s.empty = s.batches+1, 0
	if s.dt == tensor.Float32 {
		return trainBatch{X: b.X, release: b.Release}, nil
	}
	x := s.be.Empty(s.dt, b.X.Shape()...)
	s.be.WriteFloat64s(x, b.X.ToFloat64s())
	b.Release()
	return trainBatch{X: x, release: func() { s.be.Release(x) }}, nil
}

func (s *shardSource) nextEpoch(e int) error {
	s.batches = 0
	return s.l.Start(s.l.Sampler().Start(e))
}
func (s *shardSource) close() { s.l.Close() }

func (s *shardSource) position() dataPos {
	st := s.l.State()
	return dataPos{Shards: &st, world: s.counted}
}

func (s *shardSource) resume(st trainState, world int, log zerolog.Logger) (int, error) {
	pos := s.l.Sampler().Start(0)
	switch {
	case st.Step == 0:
	case st.Shards != nil: // the world's position: any world size resumes it
		pos = *st.Shards
		if pos.World != world || pos.Workers != shardStreams {
			log.Info().Int("from_world", pos.World).Int("to_world", world).Int("epoch", pos.Epoch).Msg("world size changed: unread shards regrouped")
		}
	case st.ShardRanks != nil: // ranks in different epochs: each resumes its own
		if len(st.ShardRanks) != world {
			return 0, fmt.Errorf("the checkpoint's %d ranks stopped in different epochs of their shards (%s), so it resumes only with %d ranks, not %d; resume with %d, or from a checkpoint whose ranks share an epoch",
				len(st.ShardRanks), shardEpochs(st.ShardRanks), len(st.ShardRanks), world, len(st.ShardRanks))
		}
		pos = st.ShardRanks[s.rank]
	default:
		return 0, errors.New("the checkpoint was trained on an indexed dataset (it records no shard position); set data.name as it was, not data.shards")
	}
	s.batches = 0
	if st.Step > 0 {
		s.batches = -1 // mid-epoch: its end may come at once
	}
	return pos.Epoch, s.l.Start(pos)
}

// shardEpochs lists the ranks' epochs, "rank 0 in epoch 3, rank 1 in ...".
func shardEpochs(sts []data.ShardState) string {
	parts := make([]string, len(sts))
	for r, st := range sts {
		parts[r] = fmt.Sprintf("rank %d in epoch %d", r, st.Epoch)
	}
	return strings.Join(parts, ", ")
}
