package data

import "sort"

// Counted sampling: with every shard's record count known (the shard
// index), a stream's records are fixed in number whatever their content
// (a bad record keeps its place and the loader fills it from the batch),
// so where every rank stands after n records is a pure function of the
// state. That gives every rank the same epoch length and any rank the
// world's position.

// pieceLen is the number of records piece p emits.
func (s ShardSampler) pieceLen(p ShardPiece) int { return max(s.Counts[p.Shard]-p.Skip, 0) }

// countedRun is a state's streams laid out once, so that positions after
// it cost little to compute: the trainer takes one every step.
type countedRun struct {
	s     ShardSampler
	start ShardState
	// ends[j][k] is the number of records in stream j's pieces 0..k.
	ends [][]int
}

// newCountedRun lays out st, a state of s's world and workers. It needs
// Counts.
func (s ShardSampler) newCountedRun(st ShardState) countedRun {
	plan := s.plan(st)
	S := s.World * s.Workers
	c := countedRun{s: s, start: st, ends: make([][]int, S)}
	for j := range S {
		n := 0
		for _, p := range streamPieces(plan, j, S) {
			n += s.pieceLen(p)
			c.ends[j] = append(c.ends[j], n)
		}
	}
	return c
}

// done is how many records of stream j lie before pos.
func (c countedRun) done(j int, pos StreamPos) int {
	ends := c.ends[j]
	if pos.Piece >= len(ends) {
		return c.total(j)
	}
	before := 0
	if pos.Piece > 0 {
		before = ends[pos.Piece-1]
	}
	return before + min(pos.Emitted, ends[pos.Piece]-before)
}

func (c countedRun) total(j int) int {
	if len(c.ends[j]) == 0 {
		return 0
	}
	return c.ends[j][len(c.ends[j])-1]
}

// take is stream j's position after e more records from pos (at most
// what is left): the loader's own values, {piece, records emitted from it},
// the piece being the last one a record came from.
func (c countedRun) take(j int, pos StreamPos, e int) StreamPos {
	if e <= 0 {
		return pos
	}
	a := c.done(j, pos) + e
	k := sort.SearchInts(c.ends[j], a) // the first piece whose records reach a
	before := 0
	if k > 0 {
		before = c.ends[j][k-1]
	}
	return StreamPos{Piece: k, Emitted: a - before}
}

// rankLeft is what each stream of rank r has left at the run's start, by
// worker.
func (c countedRun) rankLeft(r int) []int {
	left := make([]int, c.s.Workers)
	for w := range left {
		j := w*c.s.World + r
		left[w] = c.total(j) - c.done(j, c.start.Streams[j])
	}
	return left
}

// batches is how many batches of b records every rank delivers from the
// start to the end of its epoch: the fewest any rank has left, so that all
// end together (the rest of a larger share is not read this epoch, as a
// partial last batch is not).
func (c countedRun) batches(b int) int {
	fewest := -1
	for r := range c.s.World {
		n := 0
		for _, l := range c.rankLeft(r) {
			n += l
		}
		if fewest < 0 || n < fewest {
			fewest = n
		}
	}
	return fewest / b
}

// at is the state after every rank has taken n records from the start, in
// the rotation of ShardLoader: from worker Next[r] on, one record from
// each stream that has any left (n no more than any rank has left).
func (c countedRun) at(n int) ShardState {
	out := c.start.clone()
	for r := range c.s.World {
		took := make([]int, c.s.Workers)
		out.Next[r] = rotate(c.rankLeft(r), took, c.start.Next[r], n)
		for w, e := range took {
			j := w*c.s.World + r
			out.Streams[j] = c.take(j, c.start.Streams[j], e)
		}
	}
	return out
}

// EpochBatches is how many batches of b records every rank delivers from
// st to the end of its epoch (countedRun.batches). It needs Counts; st
// must be of this sampler's world and workers (Regroup first).
func (s ShardSampler) EpochBatches(st ShardState, b int) int { return s.newCountedRun(st).batches(b) }

// Advance is st after every rank has taken n more records (countedRun.at).
// It needs Counts, st of this sampler's world and workers, and n no more
// than any rank has left.
func (s ShardSampler) Advance(st ShardState, n int) ShardState { return s.newCountedRun(st).at(n) }

// rotate takes n records from streams with left[w] records each, one from
// each non-empty stream in turn from next on, adding to took what each
// gave, and returns the rotation's next worker afterwards (the worker after
// the last one taken from, as rotation.take leaves it). Whole rounds are
// taken at once, so the cost grows with the number of streams, not n.
func rotate(left, took []int, next, n int) int {
	W := len(left)
	for n > 0 {
		open, fewest := 0, 0
		for w := range W {
			if l := left[w] - took[w]; l > 0 {
				if open == 0 || l < fewest {
					fewest = l
				}
				open++
			}
		}
		if open == 0 {
			return next
		}
		if rounds := min(n/open, fewest); rounds > 0 {
			last := -1
			for c := range W {
				if w := (next + c) % W; left[w]-took[w] > 0 {
					last = w
				}
			}
			for w := range W {
				if left[w]-took[w] > 0 {
					took[w] += rounds
				}
			}
			next, n = (last+1)%W, n-rounds*open
			continue
		}
		for c := range W { // fewer than one record per open stream left to take
			w := (next + c) % W
			if left[w]-took[w] > 0 {
				took[w]++
				next, n = (w+1)%W, n-1
				break
			}
		}
	}
	return next
}
