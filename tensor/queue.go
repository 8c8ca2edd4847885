package tensor

import "sync"

// The execution model every backend follows (a GPU maps it to a stream
// and events; the CPU implements it trivially):
//
//   - A backend has one queue. Each primitive enqueues its work and may
//     return before the work has run; work from one goroutine runs in the
//     order it was enqueued. Shape and dtype errors panic at the call.
//   - Record returns an Event that completes when everything enqueued
//     before it has run. Another goroutine (DDP's communication, the host
//     deciding on a step) waits on it with Event.Wait; another backend's
//     queue waits on it with WaitFor, without blocking the host.
//   - Reading device data on the host goes only through the Read*
//     methods (and the Tensor helpers built on them: Item, ToFloat64s,
//     HasNonFinite), which wait for the work that writes the source: each
//     is a host synchronisation, counted in TransferStats.
//   - Sync waits for everything enqueued and reports the first
//     asynchronous failure since the previous Sync.
//
// Threading: a backend is safe for concurrent use, but work enqueued from
// different goroutines is ordered only by what orders those goroutines
// (a channel, a mutex) or by events. A tensor passed to another goroutine
// for reading needs an event recorded after the work that wrote it.

// Event marks a point in a backend's queue.
type Event interface {
	// Wait blocks the calling goroutine until the work enqueued before the
	// event has run, and returns the first failure of that work.
	Wait() error
	// Done reports, without blocking, whether that work has run.
	Done() bool
}

// TransferStats counts the traffic between the host and a backend's memory.
type TransferStats struct {
	HostSyncs int64 // host waits: Read*, Sync and Event.Wait that had to wait on work
	H2DBytes  int64 // bytes written by Write*
	D2HBytes  int64 // bytes read by Read*
}

// Sub returns s - o.
func (s TransferStats) Sub(o TransferStats) TransferStats {
	return TransferStats{s.HostSyncs - o.HostSyncs, s.H2DBytes - o.H2DBytes, s.D2HBytes - o.D2HBytes}
}

// doneEvent is an event whose work has already run (a synchronous backend).
type doneEvent struct{ err error }

func (e doneEvent) Wait() error { return e.err }
func (e doneEvent) Done() bool  { return true }

// CompletedEvent returns an event that has already completed with err.
// Synchronous backends return it from Record.
func CompletedEvent(err error) Event { return doneEvent{err} }

// PendingEvent is an event completed later by Complete, for queues that
// run work on another goroutine.
type PendingEvent struct {
	once sync.Once
	done chan struct{}
	err  error
}

// NewPendingEvent returns an event that is not yet complete.
func NewPendingEvent() *PendingEvent { return &PendingEvent{done: make(chan struct{})} }

// Complete marks the event complete with err; later calls do nothing.
func (e *PendingEvent) Complete(err error) {
	e.once.Do(func() { e.err = err; close(e.done) })
}

func (e *PendingEvent) Wait() error { <-e.done; return e.err }

func (e *PendingEvent) Done() bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}
