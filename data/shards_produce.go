package data

// The shard loader's background side: the rotation over the rank's
// streams, the producer that assembles batches, and the decoding workers.

import (
	"errors"
	"fmt"
	"sync"

	"github.com/fdsm-go/fdsm/tensor"
)

type (
	shardRun   = prefetchRun[*shardSlot]
	shardReady = prefetchItem[*shardSlot]
)

// shardSlot is one batch buffer, recycled through ShardLoader.q.
type shardSlot struct {
	l      *ShardLoader
	x      *tensor.Tensor // [BatchSize, C, S, S]
	out    *tensor.Tensor // x, or a smaller tensor for the partial last batch
	stage  []float32      // device backends: the batch on the host
	labels []int
	keys   []string
	shards []int
	errs   []error
	pos    []StreamPos // the rank's stream positions after the batch
	next   int
	slotTag
}

// values is the memory samples are decoded into.
func (s *shardSlot) values() []float32 {
	if s.l.host {
		return s.x.Float32s()
	}
	return s.stage
}

func (s *shardSlot) releaseTensors() {
	if s.out != nil && s.out != s.x {
		s.l.o.Backend.Release(s.out)
	}
	if s.x != nil {
		s.l.o.Backend.Release(s.x)
	}
	s.x, s.out = nil, nil
}

// rotation takes records from the rank's streams in turn, from worker next
// on; a closed stream leaves the rotation. pos tracks every stream's
// position after its last record taken.
type rotation struct {
	streams []chan shardItem
	open    []bool
	next    int
	pos     []StreamPos
}

// take returns the next item, or false at the end of the epoch or on stop.
func (r *rotation) take(stop <-chan struct{}) (shardItem, bool) {
	for {
		w := -1
		for c := range len(r.streams) {
			if k := (r.next + c) % len(r.streams); r.open[k] {
				w = k
				break
			}
		}
		if w < 0 {
			return shardItem{}, false
		}
		select {
		case it, ok := <-r.streams[w]:
			if !ok {
				r.open[w] = false
				continue
			}
			r.next, r.pos[w] = (w+1)%len(r.streams), it.Pos
			return it, true
		case <-stop:
			return shardItem{}, false
		}
	}
}

type decodeJob struct {
	slot  *shardSlot
	p     int // position in the batch
	rec   *ShardRecord
	shard int
}

// startRun starts the streams, the decoders and the producer of one epoch.
// With limit >= 0 the run ends after that many batches.
func (l *ShardLoader) startRun(epoch int, pieces [][]ShardPiece, pos []StreamPos, next, limit int) {
	run := l.q.newRun(l.o.Prefetch)
	rot := &rotation{next: next, pos: append([]StreamPos(nil), pos...)}
	var wg sync.WaitGroup
	for w := range pieces {
		ch := make(chan shardItem, max(l.o.BatchSize/len(pieces), 16))
		rot.streams, rot.open = append(rot.streams, ch), append(rot.open, true)
		st := &shardStream{l: l, epoch: epoch, pieces: pieces[w], out: ch, stop: run.stop}
		wg.Add(1)
		go func() { defer wg.Done(); st.run(pos[w]) }()
	}
	jobs := make(chan decodeJob, l.o.Decoders)
	var jobDone sync.WaitGroup
	for range l.o.Decoders {
		wg.Add(1)
		go func() { defer wg.Done(); l.decodeLoop(epoch, jobs, &jobDone) }()
	}
	go func() {
		l.produce(run, rot, jobs, &jobDone, limit)
		close(jobs)
		wg.Wait()
		close(run.done)
	}()
}

// decodeLoop is one decoding goroutine with its own decoder (and its
// buffers), and with transforms its own scratch and generator.
func (l *ShardLoader) decodeLoop(epoch int, jobs <-chan decodeJob, done *sync.WaitGroup) {
	d, err := NewJPEGDecoder(l.o.Decoder, l.o.Image)
	var tw *shardTransformer
	if len(l.chain.ts) > 0 {
		tw = newShardTransformer(l, epoch)
	}
	for j := range jobs {
		dst := j.slot.values()[j.p*l.per : (j.p+1)*l.per]
		switch {
		case err != nil:
			j.slot.errs[j.p] = err
		case tw == nil:
			j.slot.errs[j.p] = d.Decode(j.rec.Image, dst)
		default:
			j.slot.errs[j.p] = tw.decode(d, j, dst)
		}
		done.Done()
	}
	if d != nil {
		d.Close()
	}
}

// produce assembles batches until the epoch ends (after limit batches when
// limit >= 0), stop closes, or more bad inputs than MaxBad turn up.
func (l *ShardLoader) produce(run *shardRun, rot *rotation, jobs chan<- decodeJob, jobDone *sync.WaitGroup, limit int) {
	defer close(run.ready)
	for made := 0; limit < 0 || made < limit; made++ {
		s := l.slot()
		fill := l.fill
		if limit >= 0 {
			fill = l.fillCounted
		}
		n, err := fill(s, run, rot, jobs, jobDone)
		if err == nil && n == 0 {
			l.q.put(s)
			return
		}
		it := shardReady{slot: s, err: err}
		if err != nil {
			l.q.put(s)
			it.slot = nil
		} else {
			l.finish(s, n)
		}
		if !l.q.send(run, it) || err != nil || n < l.o.BatchSize {
			return
		}
	}
}

// fill decodes the next BatchSize good records, in rotation order, into s
// and returns how many it got (fewer at the end of the epoch). Records
// that fail to decode are dropped and the later ones moved up, so the batch
// is the first good records whatever the timing.
func (l *ShardLoader) fill(s *shardSlot, run *shardRun, rot *rotation, jobs chan<- decodeJob, jobDone *sync.WaitGroup) (int, error) {
	B, filled := l.o.BatchSize, 0
	recs := make([]shardItem, B)
	for filled < B {
		got := filled
		for got < B {
			it, ok := rot.take(run.stop)
			if !ok {
				break
			}
			if it.Err != nil || it.Rec.Err != nil {
				if err := l.skip(it, it.Err, it.Rec.Err); err != nil {
					return 0, err
				}
				continue
			}
			recs[got] = it
			got++
		}
		if got == filled {
			break
		}
		for p := filled; p < got; p++ {
			jobDone.Add(1)
			jobs <- decodeJob{slot: s, p: p, rec: &recs[p].Rec, shard: recs[p].Shard}
		}
		jobDone.Wait()
		var err error
		if filled, err = l.compact(s, recs, filled, got); err != nil {
			return 0, err
		}
	}
	copy(s.pos, rot.pos)
	s.next = rot.next
	return filled, nil
}

// compact keeps the decoded records of positions [from, to) that succeeded,
// moved up in order, and returns the new fill count.
func (l *ShardLoader) compact(s *shardSlot, recs []shardItem, from, to int) (int, error) {
	vals, k := s.values(), from
	for p := from; p < to; p++ {
		if err := s.errs[p]; err != nil {
			s.errs[p] = nil
			if err := l.skip(recs[p], err); err != nil {
				return 0, err
			}
			continue
		}
		if k != p {
			copy(vals[k*l.per:(k+1)*l.per], vals[p*l.per:(p+1)*l.per])
		}
		rec := &recs[p]
		s.labels[k], s.keys[k], s.shards[k] = rec.Rec.Label, rec.Rec.Key, rec.Shard
		k++
	}
	return k, nil
}

// skip counts and reports a bad input (the first non-nil of errs) and
// returns an error once there are more than MaxBad.
func (l *ShardLoader) skip(it shardItem, errs ...error) error {
	var err error
	for _, e := range errs {
		if e != nil {
			err = e
			break
		}
	}
	b := BadInput{Shard: l.paths[it.Shard], Key: it.Rec.Key, Err: err}
	if l.o.OnBad != nil {
		l.o.OnBad(b)
	}
	if n := l.bad.Add(1); l.o.MaxBad >= 0 && n > int64(l.o.MaxBad) {
		return fmt.Errorf("data: shard loader: %d bad inputs, more than the %d allowed; the last: %w", n, l.o.MaxBad, b)
	}
	return nil
}

// fillCounted takes the next BatchSize records, in rotation order, into s
// under counted sampling, where every record keeps its place so that the
// streams' positions stay those the sampler computes: a bad record's place
// is filled with a copy of a good record of the same batch (the k-th bad
// place with the (k mod good)-th good record). A batch with no good record
// is an error.
func (l *ShardLoader) fillCounted(s *shardSlot, run *shardRun, rot *rotation, jobs chan<- decodeJob, jobDone *sync.WaitGroup) (int, error) {
	B := l.o.BatchSize
	recs := make([]shardItem, B)
	bad := make([]bool, B)
	var lastBad error
	for p := range B {
		it, ok := rot.take(run.stop)
		if !ok {
			select {
			case <-run.stop:
				return 0, nil
			default:
				return 0, fmt.Errorf("data: shard loader: this rank's shards ran out %d records into a batch, before the epoch's end the shard index promised", p)
			}
		}
		recs[p] = it
		if it.Err != nil || it.Rec.Err != nil {
			bad[p], lastBad = true, errors.Join(it.Err, it.Rec.Err)
			if err := l.skip(it, it.Err, it.Rec.Err); err != nil {
				return 0, err
			}
			continue
		}
		jobDone.Add(1)
		jobs <- decodeJob{slot: s, p: p, rec: &recs[p].Rec, shard: recs[p].Shard}
	}
	jobDone.Wait()
	var good []int
	for p := range B {
		if err := s.errs[p]; err != nil {
			s.errs[p], bad[p], lastBad = nil, true, err
			if err := l.skip(recs[p], err); err != nil {
				return 0, err
			}
		}
		if !bad[p] {
			good = append(good, p)
			s.labels[p], s.keys[p], s.shards[p] = recs[p].Rec.Label, recs[p].Rec.Key, recs[p].Shard
		}
	}
	if len(good) == 0 {
		return 0, fmt.Errorf("data: shard loader: all %d records of a batch are bad, the last: %w", B, BadInput{Shard: l.paths[recs[B-1].Shard], Key: recs[B-1].Rec.Key, Err: lastBad})
	}
	vals, k := s.values(), 0
	for p := range B {
		if bad[p] {
			g := good[k%len(good)]
			k++
			copy(vals[p*l.per:(p+1)*l.per], vals[g*l.per:(g+1)*l.per])
			s.labels[p], s.keys[p], s.shards[p] = s.labels[g], s.keys[g], s.shards[g]
		}
	}
	copy(s.pos, rot.pos)
	s.next = rot.next
	return B, nil
}
