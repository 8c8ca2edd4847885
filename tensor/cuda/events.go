package cuda

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/fdsm-go/fdsm/tensor"
)

// Ordering and failures (tensor/queue.go's model on one stream).
//
// A failure is kept with the mark count at the time it happened (seq):
// Record and WaitFor each take a mark, so an event reports the failures
// that happened before it was recorded, and Sync those since the previous
// Sync.

type failure struct {
	seq int64
	err error
}

// maxFailures bounds the kept failures; the first ones are what matter.
const maxFailures = 256

// check keeps err, if any, as a failure of the work enqueued so far.
func (b *Backend) check(err error) {
	if err != nil {
		b.fail(err, -1)
	}
}

// fail keeps err with mark seq (-1: now).
func (b *Backend) fail(err error, seq int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if seq < 0 {
		seq = b.seq
	}
	if len(b.fails) < maxFailures {
		b.fails = append(b.fails, failure{seq, fmt.Errorf("%s: %w", b.name, err)})
	}
}

// pending returns the first failure not yet reported by Sync.
func (b *Backend) pending() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.synced < len(b.fails) {
		return b.fails[b.synced].err
	}
	return nil
}

// Sync waits for the stream and returns the first failure since the
// previous Sync (the device's own, or one kept by a primitive).
func (b *Backend) Sync() error {
	b.syncs.Add(1)
	err := b.dev.StreamSync(b.s)
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil && b.synced < len(b.fails) {
		err = b.fails[b.synced].err
	}
	b.synced = len(b.fails)
	return err
}

// hostWait blocks until the stream has run (the caller counts the host
// synchronisation) and panics if the device or a primitive failed, since
// a read must not return data a failed kernel should have written.
func (b *Backend) hostWait() {
	err := b.dev.StreamSync(b.s)
	if err == nil {
		err = b.pending()
	}
	if err != nil {
		panic(fmt.Sprintf("%v (read at %s)", err, caller()))
	}
}

func (b *Backend) Transfers() tensor.TransferStats {
	return tensor.TransferStats{HostSyncs: b.syncs.Load(), H2DBytes: b.h2d.Load(), D2HBytes: b.d2h.Load()}
}

// event is a recorded point of the backend's stream.
type event struct {
	b    *Backend
	h    Event
	seq  int64 // the mark it took
	from int   // failures before fails[from] were reported before it
}

// Record marks the work enqueued so far with a device event.
func (b *Backend) Record() tensor.Event {
	h, err := b.events.get()
	if err == nil {
		err = b.dev.RecordEvent(h, b.s)
	}
	if err != nil {
		b.check(err)
		return tensor.CompletedEvent(fmt.Errorf("%s: recording an event: %w", b.name, err))
	}
	b.mu.Lock()
	b.seq++
	e := &event{b: b, h: h, seq: b.seq, from: b.synced}
	b.mu.Unlock()
	// The device event goes back to the pool once nobody can wait on it.
	runtime.AddCleanup(e, func(h Event) { b.events.put(h) }, h)
	return e
}

// Wait blocks until the marked work has run; a wait that blocks counts as
// a host synchronisation.
func (e *event) Wait() error {
	done, err := e.b.dev.EventQuery(e.h)
	if err == nil && !done {
		e.b.syncs.Add(1)
		err = e.b.dev.EventSync(e.h)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", e.b.name, err)
	}
	e.b.mu.Lock()
	defer e.b.mu.Unlock()
	for _, f := range e.b.fails[min(e.from, len(e.b.fails)):] {
		if f.seq < e.seq {
			return f.err
		}
	}
	return nil
}

// Done reports whether the marked work has run (or the device failed, in
// which case Wait returns at once with the failure).
func (e *event) Done() bool {
	done, err := e.b.dev.EventQuery(e.h)
	return done || err != nil
}

// WaitFor orders the work enqueued after it behind e without blocking the
// caller: a device wait for an event of the same device (the device's
// failures are shared; the other backend's kept ones are its own), a host
// gate opened by a goroutine for any other event.
func (b *Backend) WaitFor(e tensor.Event) {
	if ev, ok := e.(*event); ok && ev.b.dev == b.dev {
		if ev.b != b { // on our own stream the order holds already
			b.check(b.dev.StreamWaitEvent(b.s, ev.h))
		}
		runtime.KeepAlive(ev)
		return
	}
	if e.Done() {
		if err := e.Wait(); err != nil {
			b.fail(fmt.Errorf("waited for a failed event: %w", err), -1)
		}
		return
	}
	open, err := b.dev.HostGate(b.s)
	b.mu.Lock()
	b.seq++
	seq := b.seq
	b.mu.Unlock()
	if err != nil { // no gate: the host waits instead, which is still correct
		if err := e.Wait(); err != nil {
			b.fail(fmt.Errorf("waited for a failed event: %w", err), seq)
		}
		return
	}
	go func() {
		if err := e.Wait(); err != nil {
			b.fail(fmt.Errorf("waited for a failed event: %w", err), seq)
		}
		open()
	}()
}

// eventPool recycles device events.
type eventPool struct {
	dev  Device
	mu   sync.Mutex
	free []Event
	all  []Event
}

func (p *eventPool) get() (Event, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		h := p.free[n-1]
		p.free = p.free[:n-1]
		return h, nil
	}
	h, err := p.dev.NewEvent()
	if err == nil {
		p.all = append(p.all, h)
	}
	return h, err
}

func (p *eventPool) put(h Event) {
	p.mu.Lock()
	p.free = append(p.free, h)
	p.mu.Unlock()
}

// freeAll destroys every event the pool made (Close).
func (p *eventPool) freeAll() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var first error
	for _, h := range p.all {
		if err := p.dev.DestroyEvent(h); err != nil && first == nil {
			first = err
		}
	}
	p.all, p.free = nil, nil
	return first
}
