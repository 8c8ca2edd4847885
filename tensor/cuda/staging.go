package cuda

import (
	"fmt"
	"sync"
)

// staging keeps page-locked host buffers for the host copies: the driver
// copies from them asynchronously (from pageable memory a copy would be
// synchronous). A buffer that a queued host-to-device copy still reads is
// pending until the event recorded after the copy completes.
type staging struct {
	b      *Backend
	chunk  int // largest buffer; bigger copies go in pieces
	limit  int // bytes kept for reuse
	mu     sync.Mutex
	idle   []*stageBuf
	cached int // bytes of every buffer made and not freed
}

type stageBuf struct {
	mem     []byte
	ev      Event
	pending bool // a queued copy reads mem until ev completes
}

func newStaging(b *Backend, chunk, limit int) *staging {
	return &staging{b: b, chunk: chunk, limit: limit}
}

// stageClass rounds n up to a power of two of at least 4 KiB.
func stageClass(n int) int {
	c := 4096
	for c < n {
		c *= 2
	}
	return c
}

// get returns a buffer of at least n <= chunk bytes that no queued copy
// uses. It panics if page-locked memory cannot be had.
func (s *staging) get(n int) *stageBuf {
	class := stageClass(n)
	s.mu.Lock()
	for i, sb := range s.idle {
		if len(sb.mem) == class && s.ready(sb) {
			s.idle = append(s.idle[:i], s.idle[i+1:]...)
			s.mu.Unlock()
			return sb
		}
	}
	s.cached += class
	s.mu.Unlock()
	mem, err := s.b.dev.HostAlloc(class)
	if err != nil {
		panic(fmt.Sprintf("%s: %d bytes of page-locked staging: %v (at %s)", s.b.name, class, err, caller()))
	}
	ev, err := s.b.dev.NewEvent()
	if err != nil {
		panic(fmt.Sprintf("%s: an event for staging: %v (at %s)", s.b.name, err, caller()))
	}
	return &stageBuf{mem: mem, ev: ev}
}

// ready reports whether the copy that last read sb has run.
func (s *staging) ready(sb *stageBuf) bool {
	if sb.pending {
		done, err := s.b.dev.EventQuery(sb.ev)
		sb.pending = !done && err == nil
	}
	return !sb.pending
}

// put returns sb; pending marks it as read by the copy just enqueued.
// Over the cache limit, the stream is drained and idle buffers freed.
func (s *staging) put(sb *stageBuf, pending bool) {
	if pending {
		if err := s.b.dev.RecordEvent(sb.ev, s.b.s); err != nil {
			s.b.check(err)
			return // when the copy runs is unknown now: never reuse sb
		}
	}
	s.mu.Lock()
	sb.pending = pending
	s.idle = append(s.idle, sb)
	over := s.cached > s.limit
	s.mu.Unlock()
	if over {
		s.shrink()
	}
}

// shrink drains the stream, then frees idle buffers down to half the limit.
func (s *staging) shrink() {
	s.b.syncs.Add(1)
	s.b.check(s.b.dev.StreamSync(s.b.s))
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.idle) > 0 && s.cached > s.limit/2 {
		sb := s.idle[0]
		s.idle = s.idle[1:]
		s.cached -= len(sb.mem)
		s.b.check(s.b.dev.HostFree(sb.mem))
		s.b.check(s.b.dev.DestroyEvent(sb.ev))
	}
}

// freeAll frees the idle buffers (Close; the stream has run).
func (s *staging) freeAll() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var first error
	for _, sb := range s.idle {
		for _, err := range []error{s.b.dev.HostFree(sb.mem), s.b.dev.DestroyEvent(sb.ev)} {
			if err != nil && first == nil {
				first = err
			}
		}
	}
	s.idle, s.cached = nil, 0
	return first
}
