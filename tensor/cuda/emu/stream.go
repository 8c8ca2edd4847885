//go:build cgo

package emu

import (
	"fmt"
	"sync"

	"github.com/fdsm-go/fdsm/tensor/cuda"
)

// stream is an in-order queue run by its own goroutine.
type stream struct {
	q chan item
}

// item is one queued operation. Once the context has failed, work items
// are skipped (a dead context runs nothing) while marks still complete, so
// that nobody waits forever.
type item struct {
	run  func()
	mark bool
}

// queueDepth bounds a stream's queue; enqueuing on a full queue blocks, as
// the driver's launch queue does.
const queueDepth = 4096

func (d *Device) NewStream() (cuda.Stream, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sticky != nil {
		return 0, d.sticky
	}
	d.next++
	h := cuda.Stream(d.next)
	st := &stream{q: make(chan item, queueDepth)}
	d.streams[h] = st
	go d.run(st)
	return h, nil
}

func (d *Device) run(st *stream) {
	for it := range st.q {
		if it.mark || d.failed() == nil {
			it.run()
		}
	}
}

func (d *Device) stream(s cuda.Stream) (*stream, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sticky != nil {
		return nil, d.sticky
	}
	st, ok := d.streams[s]
	if !ok {
		return nil, fmt.Errorf("cuda-emu: unknown stream %d", s)
	}
	return st, nil
}

// enqueue queues work on s.
func (d *Device) enqueue(s cuda.Stream, f func()) error {
	st, err := d.stream(s)
	if err != nil {
		return err
	}
	st.q <- item{run: f}
	return nil
}

// mark queues f to run even on a failed context.
func (d *Device) mark(s cuda.Stream, f func()) error {
	st, err := d.stream(s)
	if err != nil {
		return err
	}
	st.q <- item{run: f, mark: true}
	return nil
}

func (d *Device) DestroyStream(s cuda.Stream) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	st, ok := d.streams[s]
	if !ok {
		return fmt.Errorf("cuda-emu: unknown stream %d", s)
	}
	delete(d.streams, s)
	close(st.q) // the goroutine finishes what is queued, then ends
	return nil
}

func (d *Device) StreamSync(s cuda.Stream) error {
	done := make(chan struct{})
	d.mu.Lock()
	st, ok := d.streams[s]
	d.mu.Unlock()
	if !ok {
		return fmt.Errorf("cuda-emu: unknown stream %d", s)
	}
	st.q <- item{run: func() { close(done) }, mark: true}
	<-done
	return d.failed()
}

func (d *Device) HostGate(s cuda.Stream) (func(), error) {
	gate := make(chan struct{})
	var once sync.Once
	open := func() { once.Do(func() { close(gate) }) }
	return open, d.enqueue(s, func() { <-gate })
}

// Fault fails the context when the stream reaches it, as a kernel that
// crashes would: from then on work is skipped and every call reports err.
func (d *Device) Fault(s cuda.Stream, err error) error {
	return d.enqueue(s, func() {
		d.mu.Lock()
		if d.sticky == nil {
			d.sticky = fmt.Errorf("cuda-emu: context failed: %w", err)
		}
		d.mu.Unlock()
	})
}

// Close ends every stream's goroutine after its queued work.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for h, st := range d.streams {
		close(st.q)
		delete(d.streams, h)
	}
	return nil
}

// event holds the mark of its latest record: a channel the stream closes
// when it gets there (nil: never recorded, so complete).
type event struct {
	mu   sync.Mutex
	mark chan struct{}
}

func (d *Device) NewEvent() (cuda.Event, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sticky != nil {
		return 0, d.sticky
	}
	d.next++
	h := cuda.Event(d.next)
	d.events[h] = &event{}
	return h, nil
}

func (d *Device) event(e cuda.Event) (*event, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ev, ok := d.events[e]
	if !ok {
		return nil, fmt.Errorf("cuda-emu: unknown event %d", e)
	}
	return ev, nil
}

func (d *Device) DestroyEvent(e cuda.Event) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.events[e]; !ok {
		return fmt.Errorf("cuda-emu: unknown event %d", e)
	}
	delete(d.events, e)
	return nil
}

func (d *Device) RecordEvent(e cuda.Event, s cuda.Stream) error {
	ev, err := d.event(e)
	if err != nil {
		return err
	}
	ch := make(chan struct{})
	if err := d.mark(s, func() { close(ch) }); err != nil {
		return err
	}
	ev.mu.Lock()
	ev.mark = ch
	ev.mu.Unlock()
	return nil
}

// current returns the channel of e's latest record (nil if none).
func (ev *event) current() chan struct{} {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return ev.mark
}

func (d *Device) StreamWaitEvent(s cuda.Stream, e cuda.Event) error {
	ev, err := d.event(e)
	if err != nil {
		return err
	}
	ch := ev.current()
	if ch == nil {
		return nil
	}
	return d.enqueue(s, func() { <-ch })
}

func (d *Device) EventQuery(e cuda.Event) (bool, error) {
	ev, err := d.event(e)
	if err != nil {
		return false, err
	}
	if err := d.failed(); err != nil {
		return false, err
	}
	ch := ev.current()
	if ch == nil {
		return true, nil
	}
	select {
	case <-ch:
		return true, nil
	default:
		return false, nil
	}
}

func (d *Device) EventSync(e cuda.Event) error {
	ev, err := d.event(e)
	if err != nil {
		return err
	}
	if ch := ev.current(); ch != nil {
		<-ch
	}
	return d.failed()
}
