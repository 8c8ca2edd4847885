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
// into memory and emitted in its shuffled order. It returns false if
// stopped.
func (s *shardStream) readPiece(k, emitted int) bool {
	p := s.pieces[k]
	path := s.l.paths[p.Shard]
	end := StreamPos{Piece: k + 1}
	f, err := os.Open(path)
	if err != nil {
		return s.send(shardItem{Shard: p.Shard, Pos: end, Err: err})
	}
	defer f.Close()
	recs := newShardRecords(bufio.NewReaderSize(f, 1<<20))
	K, start := s.l.sampler.buffer(), p.Skip+emitted
	for range start / K * K {
		if _, err := recs.next(true); err != nil {
			return s.endPiece(p, end, err)
		}
	}
	for b := start / K; ; b++ {
		block := make([]ShardRecord, 0, K)
		var rerr error
		for len(block) < K {
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
			return s.endPiece(p, end, rerr)
		}
	}
}

// endPiece reports how a piece ended: nothing at the clean end of the shard,
// else an item naming the shard and how far it got.
func (s *shardStream) endPiece(p ShardPiece, end StreamPos, err error) bool {
	if err == io.EOF {
		return true
	}
	return s.send(shardItem{Shard: p.Shard, Pos: end, Err: fmt.Errorf("shard ends early or is corrupt: %w", err)})
}
