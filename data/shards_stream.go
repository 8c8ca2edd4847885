package data

// One stream of the shard loader: a goroutine that reads its pieces in
// order through the shuffle buffer and hands records to the producer.

import (
	"bufio"
	"fmt"
	"io"
	"os"
)

// shardItem is a record, or a failure that ended a piece early (a shard
// that cannot be opened or is truncated: Err set, Rec empty). Pos is the
// stream's position after it.
type shardItem struct {
	Rec   ShardRecord
	Shard int
	Pos   StreamPos
	Err   error
}

// shardStream reads pieces from pos on for epoch e into out, which it closes
// at the end; it returns early when stop closes.
type shardStream struct {
	l      *ShardLoader
	epoch  int
	pieces []ShardPiece
	out    chan shardItem
	stop   <-chan struct{}
}

func (s *shardStream) run(pos StreamPos) {
	defer close(s.out)
	for k := pos.Piece; k < len(s.pieces); k++ {
		emitted := 0
		if k == pos.Piece {
			emitted = pos.Emitted
		}
		if !s.readPiece(k, emitted) {
			return
		}
	}
}

func (s *shardStream) send(it shardItem) bool {
	select {
	case s.out <- it:
		return true
	case <-s.stop:
		return false
	}
}

// readPiece emits piece k from its emitted-th record on. Whole blocks before
// that are read without keeping their bytes; the block holding it is read
// into memory and emitted in its shuffled order. With the sampler's
// Counts, the piece emits exactly its indexed number of records: reading
// stops there, and records the shard lacks (it ends early, is corrupt or
// cannot be opened) are emitted as bad items in their places. It returns
// false if stopped.
func (s *shardStream) readPiece(k, emitted int) bool {
	p := s.pieces[k]
	limit := -1 // the shard's record count; -1: read to its end
	if s.l.sampler.Counts != nil {
		limit = s.l.sampler.Counts[p.Shard]
	}
	K, start := s.l.sampler.buffer(), p.Skip+emitted
	if limit >= 0 && start >= limit {
		return true
	}
	f, err := os.Open(s.l.paths[p.Shard])
	if err != nil {
		return s.endPiece(k, start, limit, err)
	}
	defer f.Close()
	recs := newShardRecords(bufio.NewReaderSize(f, 1<<20))
	for range start / K * K {
		if _, err := recs.next(true); err != nil {
			return s.endPiece(k, start, limit, err)
		}
	}
	for b := start / K; ; b++ {
		block := make([]ShardRecord, 0, K)
		var rerr error
		for len(block) < K {
			if limit >= 0 && b*K+len(block) >= limit {
				rerr = io.EOF
				break
			}
			rec, err := recs.next(false)
			if err != nil {
				rerr = err
				break
			}
			block = append(block, rec)
		}
		order := s.l.sampler.blockOrder(s.epoch, p.Shard, b, len(block))
		for q := max(start-b*K, 0); q < len(block); q++ {
			pos := StreamPos{Piece: k, Emitted: b*K + q + 1 - p.Skip}
			if !s.send(shardItem{Rec: block[order[q]], Shard: p.Shard, Pos: pos}) {
				return false
			}
		}
		if rerr != nil {
			return s.endPiece(k, max(start, b*K+len(block)), limit, rerr)
		}
	}
}

// endPiece reports how piece k ended after its records before from (a
// record index in the shard): nothing at the clean end of the shard, else an
// item naming the shard and how far it got; with a record count (limit >=
// 0), one bad item for each record from from to limit that the shard did
// not give.
func (s *shardStream) endPiece(k, from, limit int, err error) bool {
	p := s.pieces[k]
	if limit < 0 {
		if err == io.EOF {
			return true
		}
		return s.send(shardItem{Shard: p.Shard, Pos: StreamPos{Piece: k + 1}, Err: fmt.Errorf("shard ends early or is corrupt: %w", err)})
	}
	if err == io.EOF && from >= limit {
		return true
	}
	why := fmt.Errorf("shard ends early or is corrupt after %d of its %d indexed records: %w", from, limit, err)
	if err == io.EOF {
		why = fmt.Errorf("shard has no record %d, its index lists %d (rewritten since indexed? rerun `fdsm data index`)", from, limit)
	}
	for i := from; i < limit; i++ {
		if !s.send(shardItem{Shard: p.Shard, Pos: StreamPos{Piece: k, Emitted: i + 1 - p.Skip}, Err: why}) {
			return false
		}
	}
	return true
}
