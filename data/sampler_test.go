package data

import (
	"slices"
	"strings"
	"testing"
)

func TestSamplerCoverage(t *testing.T) {
	for world := 1; world <= 5; world++ {
		for _, n := range []int{1, 2, 3, 4, 7, 10, 16, 17, 101} {
			for _, drop := range []bool{false, true} {
				for _, shuffle := range []bool{false, true} {
					checkCoverage(t, n, world, drop, shuffle)
				}
			}
		}
	}
}

func checkCoverage(t *testing.T, n, world int, drop, shuffle bool) {
	t.Helper()
	per := -1
	var parts [][]int
	for r := range world {
		s, err := NewSampler(Sampler{N: n, Rank: r, World: world, Seed: 9, Shuffle: shuffle, DropLast: drop})
		if drop && n < world {
			if err == nil {
				t.Fatalf("n %d world %d drop_last: expected an error", n, world)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		idx := s.Epoch(3)
		if per >= 0 && len(idx) != per || len(idx) != s.PerRank() {
			t.Fatalf("n %d world %d: rank %d got %d indices, PerRank %d", n, world, r, len(idx), s.PerRank())
		}
		per = len(idx)
		parts = append(parts, idx)
	}
	// Rebuild the padded global order from the strided shares.
	global := make([]int, per*world)
	for r, idx := range parts {
		for k, i := range idx {
			global[k*world+r] = i
		}
	}
	head := global[:min(n, len(global))]
	if seen := slices.Sorted(slices.Values(head)); len(slices.Compact(seen)) != len(head) {
		t.Fatalf("n %d world %d drop %v: duplicates before the padding: %v", n, world, drop, global)
	}
	if drop {
		if len(global) != n/world*world {
			t.Fatalf("n %d world %d drop: %d indices", n, world, len(global))
		}
		return
	}
	if len(global) < n || len(global)-n >= world {
		t.Fatalf("n %d world %d: padded to %d", n, world, len(global))
	}
	for i := range n { // every index appears, in [0, n)
		if !slices.Contains(head, i) {
			t.Fatalf("n %d world %d: index %d missing", n, world, i)
		}
	}
	for p := n; p < len(global); p++ { // padding wraps to the start of the order
		if global[p] != global[(p-n)%n] {
			t.Fatalf("n %d world %d: padding %v", n, world, global)
		}
	}
	if !shuffle && !slices.Equal(head, seqInts(n)) {
		t.Fatalf("unshuffled order %v", head)
	}
}

func seqInts(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func TestSamplerOrder(t *testing.T) {
	a, _ := NewSampler(Sampler{N: 200, World: 1, Seed: 4, Shuffle: true})
	b, _ := NewSampler(Sampler{N: 200, World: 1, Seed: 4, Shuffle: true})
	c, _ := NewSampler(Sampler{N: 200, World: 1, Seed: 5, Shuffle: true})
	if !slices.Equal(a.Epoch(2), b.Epoch(2)) {
		t.Fatal("same (seed, epoch) gave different orders")
	}
	if slices.Equal(a.Epoch(2), a.Epoch(3)) || slices.Equal(a.Epoch(2), c.Epoch(2)) {
		t.Fatal("order does not change with the epoch or the seed")
	}
	if slices.Equal(a.Epoch(2), seqInts(200)) {
		t.Fatal("shuffle left the identity")
	}
	// Ranks share one permutation: rank 1 of 2 is the odd positions of rank 0 of 1.
	r1, _ := NewSampler(Sampler{N: 200, Rank: 1, World: 2, Seed: 4, Shuffle: true})
	full := a.Epoch(7)
	for k, i := range r1.Epoch(7) {
		if full[2*k+1] != i {
			t.Fatalf("rank 1 position %d: %d, want %d", k, i, full[2*k+1])
		}
	}
}

func TestSamplerResume(t *testing.T) {
	s, _ := NewSampler(Sampler{N: 103, Rank: 2, World: 3, Seed: 1, Shuffle: true})
	const batch = 8
	full := s.Epoch(4)
	for k := 0; k*batch <= len(full); k++ {
		st := SamplerState{Epoch: 4, Position: k * batch} // what a checkpoint saves after k batches
		fresh, _ := NewSampler(*s)
		rest, err := fresh.Resume(st)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rest, full[k*batch:]) {
			t.Fatalf("resume after %d batches: %v, want %v", k, rest, full[k*batch:])
		}
	}
	for _, pos := range []int{-1, s.PerRank() + 1} {
		if _, err := s.Resume(SamplerState{Epoch: 4, Position: pos}); err == nil {
			t.Fatalf("position %d accepted", pos)
		}
	}
}

func TestSamplerErrors(t *testing.T) {
	for _, c := range []struct {
		s    Sampler
		want string
	}{
		{Sampler{N: 10, World: 0}, "world size 0"},
		{Sampler{N: 10, Rank: -1, World: 2}, "rank -1"},
		{Sampler{N: 10, Rank: 2, World: 2}, "rank 2 outside [0, 2)"},
		{Sampler{N: 0, World: 1}, "dataset size 0"},
		{Sampler{N: 2, World: 3, DropLast: true}, "drop_last"},
	} {
		if _, err := NewSampler(c.s); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.s, err, c.want)
		}
	}
}

// TestReshardContinuesWithoutGapOrRepeat: a world-2 run stopped mid-epoch and
// resumed with world 3 (and the reverse) sees every sample of the epoch
// exactly once before padding repeats, and the same world resumes as before.
func TestReshardContinuesWithoutGapOrRepeat(t *testing.T) {
	const n = 23
	for _, c := range []struct{ from, to, consumed int }{{2, 3, 4}, {3, 2, 3}, {4, 1, 2}, {1, 4, 10}, {3, 3, 5}} {
		seen := map[int]int{}
		for r := 0; r < c.from; r++ {
			s, _ := NewSampler(Sampler{N: n, Rank: r, World: c.from, Seed: 9, Shuffle: true})
			for _, i := range s.Epoch(2)[:c.consumed] {
				seen[i]++
			}
		}
		st := SamplerState{Epoch: 2, Position: c.consumed}
		var rest [][]int
		for r := 0; r < c.to; r++ {
			s, _ := NewSampler(Sampler{N: n, Rank: r, World: c.to, Seed: 9, Shuffle: true})
			ns := s.Reshard(st, c.from)
			if ns.Epoch != 2 {
				t.Fatalf("%+v: resharded into epoch %d", c, ns.Epoch)
			}
			if c.from == c.to && ns != st {
				t.Fatalf("same world reshard changed the state: %+v -> %+v", st, ns)
			}
			idx, err := s.Resume(ns)
			if err != nil {
				t.Fatal(err)
			}
			rest = append(rest, idx)
			if len(idx) != len(rest[0]) {
				t.Fatalf("%+v: rank %d gets %d, rank 0 %d: ranks must stay in lockstep", c, r, len(idx), len(rest[0]))
			}
		}
		for k := range rest[0] {
			for r := range rest {
				seen[rest[r][k]]++
			}
		}
		for i := 0; i < n; i++ {
			if seen[i] < 1 {
				t.Fatalf("%+v: sample %d never seen", c, i)
			}
		}
		if extra := total(seen) - n; extra >= c.to {
			t.Fatalf("%+v: %d repeats, want at most world-1 = %d of padding", c, extra, c.to-1)
		}
	}
	// An epoch fully consumed moves on.
	s, _ := NewSampler(Sampler{N: n, Rank: 0, World: 2})
	if ns := s.Reshard(SamplerState{Epoch: 1, Position: 12}, 2); ns != (SamplerState{Epoch: 2}) {
		t.Fatalf("finished epoch resharded to %+v", ns)
	}
}

func total(m map[int]int) int {
	s := 0
	for _, v := range m {
		s += v
	}
	return s
}
