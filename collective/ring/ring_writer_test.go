package ring

import (
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestRingWriterFailureWakesWaiter: when the writer's connection fails, a
// collective goroutine waiting for an earlier chunk to be written (the
// all-gather half of AllReduce) is woken instead of waiting forever. A
// writer that waited for the queue to close before exiting deadlocked with
// it (seen as a hung survivor when its successor was killed).
func TestRingWriterFailureWakesWaiter(t *testing.T) {
	a, b := net.Pipe()
	b.Close() // every write to a now fails
	r := &ring{rank: 0, size: 2, next: 1, prev: 1, send: a, peer: -1, log: zerolog.Nop(), timeout: time.Second}
	w := &chunkWriter{queue: make(chan []byte, 4), progress: make(chan struct{}, 1), done: make(chan struct{}),
		sentAt: map[int]int{}}
	go r.write(w)
	w.push([]byte{1, 2, 3})
	woke := make(chan bool, 1)
	go func() { woke <- w.waitWritten(0) }()
	select {
	case ok := <-woke:
		if ok {
			t.Fatal("a chunk whose write failed was reported written")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the collective goroutine was not woken after the writer failed")
	}
	if _, cause := r.broken(); cause == nil {
		t.Error("the write failure did not break the ring")
	}
	close(w.queue)
}
