package data

import "github.com/fdsm-go/fdsm/tensor"

// slot returns a free batch buffer for BatchSize samples.
func (l *ShardLoader) slot() *shardSlot {
	s := l.q.get()
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
