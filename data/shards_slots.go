package data

import "github.com/fdsm-go/fdsm/tensor"

// slot returns a free batch buffer for BatchSize samples.
func (l *ShardLoader) slot() *shardSlot {
	l.mu.Lock()
	var s *shardSlot
	if k := len(l.free); k > 0 {
		s, l.free = l.free[k-1], l.free[:k-1]
	}
	l.mu.Unlock()
	B := l.o.BatchSize
	if s == nil {
		s = &shardSlot{l: l, labels: make([]int, B), keys: make([]string, B), shards: make([]int, B),
			errs: make([]error, B), pos: make([]StreamPos, l.sampler.Workers)}
		s.x = l.o.Backend.Empty(tensor.Float32, append([]int{B}, l.Shape()...)...)
		if !l.host {
			s.stage = make([]float32, B*l.per)
		}
	}
	if s.out != nil && s.out != s.x {
		l.o.Backend.Release(s.out)
	}
	s.out = s.x
	s.labels, s.keys, s.shards = s.labels[:B], s.keys[:B], s.shards[:B]
	return s
}

// finish makes s's output tensor hold its n samples: the batch tensor
// itself, uploaded from the stage on a device, or a fresh smaller tensor
// for a partial last batch.
func (l *ShardLoader) finish(s *shardSlot, n int) {
	s.labels, s.keys, s.shards = s.labels[:n], s.keys[:n], s.shards[:n]
	vals := s.values()[:n*l.per]
	if n < l.o.BatchSize {
		s.out = l.o.Backend.Empty(tensor.Float32, append([]int{n}, l.Shape()...)...)
	}
	if l.host && s.out != s.x {
		copy(s.out.Float32s(), vals)
	} else if !l.host {
		l.o.Backend.WriteFloat32s(s.out, vals)
	}
}

func (l *ShardLoader) recycle(s *shardSlot) {
	l.mu.Lock()
	l.recycleLocked(s)
	l.mu.Unlock()
}

func (l *ShardLoader) recycleLocked(s *shardSlot) {
	if l.closed {
		s.releaseTensors()
		return
	}
	l.free = append(l.free, s)
}

// stopRun cancels the running epoch, waits for its goroutines and recycles
// the batches it had queued.
func (l *ShardLoader) stopRun() {
	run := l.run
	if run == nil {
		return
	}
	l.run = nil
	close(run.stop)
	for it := range run.ready { // drain so the producer can exit
		if it.slot != nil {
			l.recycle(it.slot)
		}
	}
	<-run.done
}
