package data

import "testing"

type testSlot struct {
	slotTag
	freed bool
}

func (s *testSlot) releaseTensors() { s.freed = true }

// TestPrefetcherSlots checks the pool's rules: a stale handle cannot
// release a reissued slot, a second release does nothing, stopRun recycles
// what was queued, and slots released after close are freed.
func TestPrefetcherSlots(t *testing.T) {
	var q prefetcher[*testSlot]
	a, b := &testSlot{}, &testSlot{}
	run := q.newRun(2)
	q.send(run, prefetchItem[*testSlot]{slot: a})
	q.send(run, prefetchItem[*testSlot]{slot: a}) // stands in for its reissue
	s, gen1, err := q.next()
	if err != nil || s != a {
		t.Fatal(s, err)
	}
	q.release(a, gen1)
	q.release(a, gen1) // a no-op
	if q.get() != a || q.get() != nil {
		t.Fatal("a released slot must be pooled once")
	}
	_, gen2, _ := q.next() // a again
	q.release(a, gen1)     // the stale handle
	if !a.held {
		t.Fatal("a stale handle released a reissued slot")
	}
	q.send(run, prefetchItem[*testSlot]{slot: b})
	close(run.ready)
	close(run.done)
	if err := q.restart(); err != nil || q.get() != b {
		t.Fatal("stopRun must recycle the queued batch")
	}
	q.close()
	q.close()
	if _, _, err := q.next(); err != ErrLoaderClosed {
		t.Fatal(err)
	}
	q.release(a, gen2)
	if !a.freed || q.get() != nil {
		t.Fatal("a slot released after close must be freed")
	}
}
