package cluster

import "github.com/fdsm-go/fdsm/bus"

// The job events moved to package bus with the rest of the control bus.
// These aliases only keep package trainer compiling until it names bus.Event
// and the bus.Event* kinds itself; then this file goes.

// Event is bus.Event.
//
// Deprecated: use bus.Event.
type Event = bus.Event

// Event kinds trainer.Elastic reports.
//
// Deprecated: use bus.EventStart, bus.EventRegroup, bus.EventFail and
// bus.EventFinish.
const (
	EventStart   = bus.EventStart
	EventRegroup = bus.EventRegroup
	EventFail    = bus.EventFail
	EventFinish  = bus.EventFinish
)
