package driver

import (
	"errors"
	"fmt"
)

// EventFlags are cuEventCreate's flags; combine them with |.
type EventFlags uint32

const (
	EventDefault EventFlags = 0
	// EventBlockingSync makes Synchronize sleep instead of spinning.
	EventBlockingSync EventFlags = 1
	// EventDisableTiming drops the timestamp: cheaper events for ordering.
	EventDisableTiming EventFlags = 2
)

// Event marks a point in a stream's work (CUevent), for Query, Synchronize
// and Stream.WaitEvent.
//
// Threading: Record, Query, Synchronize and WaitEvent on one event may come
// from any goroutine; Destroy must not overlap them.
type Event struct {
	ctx  *Context
	h    uintptr
	gone bool
}

// NewEvent creates an event on c.
func (c *Context) NewEvent(flags EventFlags) (*Event, error) {
	if err := c.live("NewEvent"); err != nil {
		return nil, err
	}
	h, r := c.lib().eventCreate(c.h, flags)
	if err := c.check("cuEventCreate", r); err != nil {
		return nil, err
	}
	return &Event{ctx: c, h: h}, nil
}

// Handle returns the CUevent.
func (e *Event) Handle() uintptr { return e.h }

func (e *Event) live(what string) error {
	if e.gone {
		return fmt.Errorf("%w: %s on a destroyed event", ErrReleased, what)
	}
	return e.ctx.live(what)
}

// Record marks the work enqueued on s so far; s must belong to the event's
// context (the driver requires it).
func (e *Event) Record(s *Stream) error {
	if err := e.live("Record"); err != nil {
		return err
	}
	if s == nil || s.ctx != e.ctx {
		return errors.New("cuda: Record needs a stream of the event's context")
	}
	if err := s.live("Record"); err != nil {
		return err
	}
	return e.ctx.check("cuEventRecord", e.ctx.lib().eventRecord(e.ctx.h, e.h, s.h))
}

// Query reports whether the recorded work is done, without waiting. An
// event never recorded counts as done.
func (e *Event) Query() (bool, error) {
	if err := e.live("Query"); err != nil {
		return false, err
	}
	r := e.ctx.lib().eventQuery(e.ctx.h, e.h)
	if r == NotReady {
		return false, nil
	}
	return r == Success, e.ctx.check("cuEventQuery", r)
}

// Synchronize waits until the recorded work is done.
func (e *Event) Synchronize() error {
	if err := e.live("Synchronize"); err != nil {
		return err
	}
	return e.ctx.check("cuEventSynchronize", e.ctx.lib().eventSynchronize(e.ctx.h, e.h))
}

// Destroy destroys the event (cuEventDestroy_v2).
func (e *Event) Destroy() error {
	if err := e.live("Destroy"); err != nil {
		return err
	}
	e.gone = true
	return e.ctx.check("cuEventDestroy_v2", e.ctx.lib().eventDestroy(e.ctx.h, e.h))
}
