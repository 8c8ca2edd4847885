package data

import (
	"fmt"

	"github.com/fdsm-go/fdsm/tensor"
)

// ShardSampler assigns whole shards to the streams of a world: Workers
// streams per rank, World·Workers in all, stream j = w·World + rank. An
// epoch's plan is a list of pieces (shards, each from some record on):
// every shard from its start, in an order seeded by (Seed, epoch) with
// Shuffle; stream j reads pieces j, j+S, j+2S, ... (S streams) in turn.
//
// Inside a shard, records are emitted in blocks of Buffer consecutive
// records, each block shuffled in memory by a generator seeded by (Seed,
// epoch, shard, block): the shuffle buffer. A shard's emission order thus
// depends on nothing but the seed, the epoch and the shard, so a stream's
// position (pieces done, records emitted from the current one) says
// exactly which records it has delivered, whichever stream read them.
//
// A rank's loader takes records from its streams in rotation (a finished
// stream drops out), so ranks see equal counts only when their shards hold
// equal counts: with whole shards per rank, ranks differ by up to a shard.
type ShardSampler struct {
	Shards               int // number of shards
	Rank, World, Workers int
	Seed                 uint64
	Shuffle              bool
	Buffer               int // records per shuffle block (default 1000)
	// Counts, when set, are the shards' record counts (the shard index):
	// the sampler then knows every rank's share of an epoch, so ranks end
	// their epochs together (EpochBatches) and any rank can compute the
	// world's position (Advance). Nil: the counts are unknown.
	Counts []int
}

// ShardPiece is the work one shard contributes to an epoch: its records
// from emission position Skip on.
type ShardPiece struct{ Shard, Skip int }

// StreamPos is one stream's position: Piece of its pieces are done and
// Emitted records of the next have been delivered.
type StreamPos struct{ Piece, Emitted int }

// ShardState is where a world stands in an epoch of shards; checkpoints
// save it. Plan (nil: every shard whole, in the epoch's order) was cut into
// streams for World ranks of Workers streams. Streams has every stream's
// position and Next each rank's rotation (the worker it takes from next).
//
// A rank's loader knows only its own entries; MergeShardStates joins the
// states of all ranks into the world's. Resuming with another world size or
// worker count regroups the unconsumed work exactly (Regroup).
type ShardState struct {
	Epoch          int
	Plan           []ShardPiece
	World, Workers int
	Streams        []StreamPos
	Next           []int
}

// clone is st with its own slices (Plan is never modified, so shared).
func (st ShardState) clone() ShardState {
	st.Streams = append([]StreamPos(nil), st.Streams...)
	st.Next = append([]int(nil), st.Next...)
	return st
}

// Validate reports a configuration that cannot sample.
func (s ShardSampler) Validate() error {
	switch {
	case s.Shards <= 0:
		return fmt.Errorf("shard sampler: %d shards: nothing to read", s.Shards)
	case s.World < 1 || s.Workers < 1:
		return fmt.Errorf("shard sampler: world %d, workers %d: both must be >= 1", s.World, s.Workers)
	case s.Rank < 0 || s.Rank >= s.World:
		return fmt.Errorf("shard sampler: rank %d outside [0, %d)", s.Rank, s.World)
	case s.Buffer < 0:
		return fmt.Errorf("shard sampler: shuffle buffer %d < 0", s.Buffer)
	case s.Counts != nil && len(s.Counts) != s.Shards:
		return fmt.Errorf("shard sampler: %d record counts for %d shards", len(s.Counts), s.Shards)
	}
	for i, c := range s.Counts {
		if c < 0 {
			return fmt.Errorf("shard sampler: shard %d has %d records", i, c)
		}
	}
	return nil
}

func (s ShardSampler) buffer() int {
	if s.Buffer == 0 {
		return 1000
	}
	return s.Buffer
}

// Start is the state at the beginning of epoch e.
func (s ShardSampler) Start(e int) ShardState {
	return ShardState{Epoch: e, World: s.World, Workers: s.Workers,
		Streams: make([]StreamPos, s.World*s.Workers), Next: make([]int, s.World)}
}

// plan is st's list of pieces.
func (s ShardSampler) plan(st ShardState) []ShardPiece {
	if st.Plan != nil {
		return st.Plan
	}
	order := make([]ShardPiece, s.Shards)
	for i := range order {
		order[i].Shard = i
	}
	if s.Shuffle {
		rng := tensor.NewRNG(mixSeeds(s.Seed, uint64(st.Epoch)))
		for i := len(order) - 1; i > 0; i-- {
			j := rng.IntN(i + 1)
			order[i], order[j] = order[j], order[i]
		}
	}
	return order
}

// streamPieces is stream j's pieces of plan for S streams.
func streamPieces(plan []ShardPiece, j, S int) []ShardPiece {
	var out []ShardPiece
	for k := j; k < len(plan); k += S {
		out = append(out, plan[k])
	}
	return out
}

// RankStreams is what this rank reads: per worker its pieces and position,
// and the worker its rotation takes from first. A state of another world
// size or worker count is regrouped first.
func (s ShardSampler) RankStreams(st ShardState) (pieces [][]ShardPiece, pos []StreamPos, next int, err error) {
	if st.World != s.World || st.Workers != s.Workers {
		if st, err = s.Regroup(st); err != nil {
			return nil, nil, 0, err
		}
	}
	if err := st.check(); err != nil {
		return nil, nil, 0, err
	}
	plan := s.plan(st)
	S := s.World * s.Workers
	for w := range s.Workers {
		j := w*s.World + s.Rank
		pieces = append(pieces, streamPieces(plan, j, S))
		pos = append(pos, st.Streams[j])
	}
	return pieces, pos, st.Next[s.Rank] % s.Workers, nil
}

func (st ShardState) check() error {
	if st.World < 1 || st.Workers < 1 || len(st.Streams) != st.World*st.Workers || len(st.Next) != st.World {
		return fmt.Errorf("shard state: world %d, workers %d with %d stream positions and %d rotations",
			st.World, st.Workers, len(st.Streams), len(st.Next))
	}
	return nil
}

// Regroup cuts the work st has not consumed into pieces for this sampler's
// world and workers: every stream's current piece from its next record on,
// then its untouched pieces, interleaved across streams so that the
// regrouped plan spreads every old stream's work over the new streams.
// Nothing is skipped or repeated.
func (s ShardSampler) Regroup(st ShardState) (ShardState, error) {
	if err := st.check(); err != nil {
		return ShardState{}, err
	}
	plan := s.plan(st)
	S := st.World * st.Workers
	left := make([][]ShardPiece, S)
	longest := 0
	for j := range S {
		ps, p := streamPieces(plan, j, S), st.Streams[j]
		if p.Piece < len(ps) {
			cur := ps[p.Piece]
			left[j] = append([]ShardPiece{{Shard: cur.Shard, Skip: cur.Skip + p.Emitted}}, ps[p.Piece+1:]...)
		}
		longest = max(longest, len(left[j]))
	}
	out := s.Start(st.Epoch)
	out.Plan = []ShardPiece{} // not nil: nil means the whole epoch
	for k := range longest {
		for j := range S {
			if k < len(left[j]) {
				out.Plan = append(out.Plan, left[j][k])
			}
		}
	}
	return out, nil
}

// MergeShardStates joins the states the loaders of ranks 0..World-1 report
// (perRank[r] from rank r) into the world's state.
func MergeShardStates(perRank []ShardState) (ShardState, error) {
	if len(perRank) == 0 {
		return ShardState{}, fmt.Errorf("shard state: nothing to merge")
	}
	out := perRank[0]
	out.Streams = append([]StreamPos(nil), out.Streams...)
	out.Next = append([]int(nil), out.Next...)
	if err := out.check(); err != nil || len(perRank) != out.World {
		return ShardState{}, fmt.Errorf("shard state: %d rank states for world %d (%v)", len(perRank), out.World, err)
	}
	for r, st := range perRank[1:] {
		r++
		if st.Epoch != out.Epoch || st.World != out.World || st.Workers != out.Workers || len(st.Plan) != len(out.Plan) {
			return ShardState{}, fmt.Errorf("shard state: rank %d is at epoch %d of world %d, rank 0 at epoch %d of world %d",
				r, st.Epoch, st.World, out.Epoch, out.World)
		}
		for w := range out.Workers {
			out.Streams[w*out.World+r] = st.Streams[w*out.World+r]
		}
		out.Next[r] = st.Next[r]
	}
	return out, nil
}

// blockOrder is the emission order of block b (n records) of shard sh in
// epoch e: a permutation with Shuffle, else the identity.
func (s ShardSampler) blockOrder(e, sh, b, n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	if s.Shuffle {
		rng := tensor.NewRNG(mixSeeds(mixSeeds(mixSeeds(s.Seed^0x5eed5a3d, uint64(e)), uint64(sh)), uint64(b)))
		for i := n - 1; i > 0; i-- {
			j := rng.IntN(i + 1)
			idx[i], idx[j] = idx[j], idx[i]
		}
	}
	return idx
}
