package data

// Counted sampling: with every shard's record count known (the shard
// index), a stream's records are fixed in number whatever their content
// (a bad record keeps its place and the loader fills it from the batch),
// so where every rank stands after n records is a pure function of the
// state. That gives every rank the same epoch length and any rank the
// world's position.

// pieceLen is the number of records piece p emits.
func (s ShardSampler) pieceLen(p ShardPiece) int { return max(s.Counts[p.Shard]-p.Skip, 0) }

// streamLeft is the number of records a stream of pieces ps has left at pos.
func (s ShardSampler) streamLeft(ps []ShardPiece, pos StreamPos) int {
	n := 0
	for k := pos.Piece; k < len(ps); k++ {
		left := s.pieceLen(ps[k])
		if k == pos.Piece {
			left = max(left-pos.Emitted, 0)
		}
		n += left
	}
	return n
}

// streamTake is pos after e more records of pieces ps (at most what is
// left): the loader's own position values, {piece, records emitted from
// it}, the piece being the last one a record came from.
func (s ShardSampler) streamTake(ps []ShardPiece, pos StreamPos, e int) StreamPos {
	for k := pos.Piece; e > 0 && k < len(ps); k++ {
		done := 0
		if k == pos.Piece {
			done = pos.Emitted
		}
		take := min(max(s.pieceLen(ps[k])-done, 0), e)
		if take > 0 {
			pos, e = StreamPos{Piece: k, Emitted: done + take}, e-take
		}
	}
	return pos
}

// rankLeft is what each stream of rank r has left in st (a state of this
// sampler's world and workers), by worker.
func (s ShardSampler) rankLeft(st ShardState, plan []ShardPiece, r int) []int {
	S := s.World * s.Workers
	left := make([]int, s.Workers)
	for w := range s.Workers {
		j := w*s.World + r
		left[w] = s.streamLeft(streamPieces(plan, j, S), st.Streams[j])
	}
	return left
}

// EpochBatches is how many batches of b records every rank delivers from
// st to the end of its epoch: the fewest any rank has left, so that all end
// together (the rest of a larger share is not read this epoch, as a
// partial last batch is not). It needs Counts; st must be of this
// sampler's world and workers (Regroup first).
func (s ShardSampler) EpochBatches(st ShardState, b int) int {
	plan := s.plan(st)
	fewest := -1
	for r := range s.World {
		n := 0
		for _, l := range s.rankLeft(st, plan, r) {
			n += l
		}
		if fewest < 0 || n < fewest {
			fewest = n
		}
	}
	return fewest / b
}

// Advance is st after every rank has taken n more records, in the
// rotation of ShardLoader: from worker Next[r] on, one record from each
// stream that has any left. It needs Counts, st of this sampler's world
// and workers, and n no more than any rank has left.
func (s ShardSampler) Advance(st ShardState, n int) ShardState {
	out := st
	out.Streams = append([]StreamPos(nil), st.Streams...)
	out.Next = append([]int(nil), st.Next...)
	plan := s.plan(st)
	S := s.World * s.Workers
	for r := range s.World {
		left := s.rankLeft(st, plan, r)
		took := make([]int, s.Workers)
		out.Next[r] = rotate(left, took, st.Next[r], n)
		for w, e := range took {
			j := w*s.World + r
			out.Streams[j] = s.streamTake(streamPieces(plan, j, S), st.Streams[j], e)
		}
	}
	return out
}

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
