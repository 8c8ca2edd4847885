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

// SamplerState is where a rank stands: Position indices of epoch Epoch's
// share have been consumed. Checkpoints save it to resume mid-epoch.
type SamplerState struct {
	Epoch, Position int
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
func (s *Sampler) PerRank() int {
	if s.DropLast {
		return s.N / s.World
	}
	return (s.N + s.World - 1) / s.World
}

// Epoch returns this rank's indices for epoch e (a fresh slice).
func (s *Sampler) Epoch(e int) []int {
	idx := make([]int, s.N, s.PerRank()*s.World+s.N)
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
	total := s.PerRank() * s.World
	for i := len(idx); i < total; i++ {
		idx = append(idx, idx[i%s.N]) // wrap around, as often as needed
	}
	idx = idx[:total]
	out := make([]int, s.PerRank())
	for k := range out {
		out[k] = idx[s.Rank+k*s.World]
	}
	return out
}

// Resume returns the indices of epoch st.Epoch from st.Position on: what an
// interrupted run has still to see of that epoch.
func (s *Sampler) Resume(st SamplerState) ([]int, error) {
	if st.Position < 0 || st.Position > s.PerRank() {
		return nil, fmt.Errorf("sampler: resume position %d outside [0, %d] for epoch %d", st.Position, s.PerRank(), st.Epoch)
	}
	return s.Epoch(st.Epoch)[st.Position:], nil
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
