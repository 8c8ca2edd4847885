package backendtest

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/tensor"
)

// Events: the ordering model of queue.go. Record after work completes once
// that work has run; work enqueued after WaitFor(e) runs only after e
// completes, even when e belongs to nobody's queue (another backend, or a
// host-side pending event); Sync reports no failure on healthy work.
func testEvents(t *testing.T, b tensor.Backend, dt tensor.DType) {
	t.Run("RecordAfterWork", func(t *testing.T) {
		x := b.Empty(dt, 64, 64)
		defer b.Release(x)
		b.Fill(x, 3)
		e := b.Record()
		if err := e.Wait(); err != nil {
			t.Fatalf("Wait on an event after healthy work: %v", err)
		}
		if !e.Done() {
			t.Fatal("event not Done after Wait returned")
		}
		checkExact(t, "value after the event", x.Shape(), x.ToFloat64s(), constSlice(64*64, 3))
	})

	t.Run("WaitForOtherEvent", func(t *testing.T) {
		x := b.Zeros(dt, 8)
		defer b.Release(x)
		gate := tensor.NewPendingEvent()
		var opened atomic.Bool
		go func() {
			time.Sleep(20 * time.Millisecond)
			opened.Store(true)
			gate.Complete(nil)
		}()
		b.WaitFor(gate)
		b.Fill(x, 5)
		got := x.ToFloat64s()
		if !opened.Load() {
			t.Fatal("work enqueued after WaitFor ran before the event completed")
		}
		checkExact(t, "Fill after WaitFor", x.Shape(), got, constSlice(8, 5))
	})

	t.Run("Sync", func(t *testing.T) {
		x := b.Empty(dt, 16)
		defer b.Release(x)
		b.Fill(x, 1)
		if err := b.Sync(); err != nil {
			t.Fatalf("Sync after healthy work: %v", err)
		}
	})

	t.Run("CompletedEvent", func(t *testing.T) {
		boom := errors.New("boom")
		if e := tensor.CompletedEvent(boom); !e.Done() || !errors.Is(e.Wait(), boom) {
			t.Fatal("CompletedEvent does not report its error")
		}
	})
}
