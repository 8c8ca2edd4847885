package data

import (
	"fmt"

	"github.com/fdsm-go/fdsm/tensor"
)

// Sampler splits the sample indices [0, N) among World ranks per epoch, as
// PyTorch's DistributedSampler does:
//
//   - The epoch's order is the identity or, with Shuffle, a Fisher-Yates
//     permutation drawn from a generator seeded by (Seed, epoch): the same
//     on every rank, different across epochs.
//   - Without DropLast the order is padded by wrapping around to its start
//     (indices[0], indices[1], ...) until its length divides by World, so up
//     to World-1 samples appear twice in that epoch; with DropLast it is cut
//     to the largest multiple of World instead, so up to World-1 are unused.
//   - Rank r takes every World-th index from position r: indices[r::World].
//
// Every rank therefore gets PerRank indices; across ranks they cover every
// sample (without DropLast) and are disjoint apart from the padding.
type Sampler struct {
	N, Rank, World int
	Seed           uint64
	Shuffle        bool
	DropLast       bool
}

// SamplerState is where a rank stands: Position indices of its share of
// epoch Epoch have been consumed, where the share was cut from the epoch's
// order starting at global position Offset (0 unless the run was resharded
// mid-epoch to a different world size). Checkpoints save it to resume
// mid-epoch.
type SamplerState struct {
	Epoch, Position, Offset int
}

// NewSampler checks s and returns a copy of it.
func NewSampler(s Sampler) (*Sampler, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Validate reports a configuration that cannot sample.
func (s *Sampler) Validate() error {
	switch {
	case s.N <= 0:
		return fmt.Errorf("sampler: dataset size %d: nothing to sample", s.N)
	case s.World < 1:
		return fmt.Errorf("sampler: world size %d < 1", s.World)
	case s.Rank < 0 || s.Rank >= s.World:
		return fmt.Errorf("sampler: rank %d outside [0, %d)", s.Rank, s.World)
	case s.DropLast && s.N < s.World:
		return fmt.Errorf("sampler: drop_last with %d samples for %d ranks leaves every rank empty", s.N, s.World)
	}
	return nil
}

// PerRank is the number of indices each rank gets per epoch: ceil(N/World),
// or floor(N/World) with DropLast.
func (s *Sampler) PerRank() int { return s.perRankFrom(0) }

// Epoch returns this rank's indices for epoch e (a fresh slice).
func (s *Sampler) Epoch(e int) []int { return s.share(e, 0) }

// order is epoch e's order of all N indices.
func (s *Sampler) order(e int) []int {
	idx := make([]int, s.N)
	for i := range idx {
		idx[i] = i
	}
	if s.Shuffle {
		rng := tensor.NewRNG(mixSeeds(s.Seed, uint64(e)))
		for i := len(idx) - 1; i > 0; i-- {
			j := rng.IntN(i + 1)
			idx[i], idx[j] = idx[j], idx[i]
		}
	}
	return idx
}

// perRankFrom is the length of every rank's share of the order's tail
// from global position offset.
func (s *Sampler) perRankFrom(offset int) int {
	left := s.N - offset
	if s.DropLast {
		return left / s.World
	}
	return (left + s.World - 1) / s.World
}

// share is this rank's share of epoch e's order from global position
// offset on: the tail order[offset:] padded (by wrapping to the order's
// start) or cut to a multiple of World, then every World-th index from
// position Rank. With offset = Position*World of an earlier state of the
// same world this is exactly that state's share from Position on, so a
// reshard at such a point changes nothing for an unchanged world.
func (s *Sampler) share(e, offset int) []int {
	order := s.order(e)
	per := s.perRankFrom(offset)
	out := make([]int, per)
	for k := range out {
		out[k] = order[(offset+s.Rank+k*s.World)%s.N]
	}
	return out
}

// Resume returns the indices of epoch st.Epoch from st.Position on: what an
// interrupted run has still to see of that epoch.
func (s *Sampler) Resume(st SamplerState) ([]int, error) {
	if st.Offset < 0 || st.Offset > s.N {
		return nil, fmt.Errorf("sampler: resume offset %d outside [0, %d] for epoch %d", st.Offset, s.N, st.Epoch)
	}
	if per := s.perRankFrom(st.Offset); st.Position < 0 || st.Position > per {
		return nil, fmt.Errorf("sampler: resume position %d outside [0, %d] for epoch %d", st.Position, per, st.Epoch)
	}
	return s.share(st.Epoch, st.Offset)[st.Position:], nil
}

// Consumed is how many of epoch st.Epoch's N samples the whole world has
// consumed at st, counting padding repeats as nothing new (at most N).
func (s *Sampler) Consumed(st SamplerState) int {
	return min(s.N, st.Offset+st.Position*s.World)
}

// Reshard converts st, a state of a run with world size oldWorld, into the
// state from which this sampler's world continues the same epoch with no
// sample skipped or repeated: the shares are recut from the first sample not
// yet consumed. An epoch already consumed moves to the next one.
func (s *Sampler) Reshard(st SamplerState, oldWorld int) SamplerState {
	old := *s
	old.World = oldWorld
	done := old.Consumed(st)
	if done >= s.N || (s.DropLast && s.perRankFrom(done) == 0) {
		return SamplerState{Epoch: st.Epoch + 1}
	}
	if oldWorld == s.World {
		return st
	}
	return SamplerState{Epoch: st.Epoch, Offset: done}
}

// splitMix64 is the SplitMix64 finaliser: a bijective 64-bit mixer.
func splitMix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// mixSeeds derives a seed from a parent seed and a stream number (epoch,
// sample index) so that nearby inputs give unrelated generators.
func mixSeeds(seed, stream uint64) uint64 {
	return splitMix64(seed ^ splitMix64(stream+0x632be59bd9b4e019))
}
