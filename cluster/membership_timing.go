package cluster

import "time"

// Timing sets how fast membership gossips and detects failures. Zero fields
// take LANTiming's values.
//
// A dead member is noticed after at most a few probe intervals (each node
// probes one peer per ProbeInterval) plus the suspicion timeout, which is
// SuspicionMult * max(1, log10(n)) * ProbeInterval when other nodes confirm
// the suspicion and up to 6 times that when none does. With LANTiming and up
// to 10 nodes that is about 4-10 s; with FastTiming about 1-2 s.
type Timing struct {
	ProbeInterval    time.Duration // each node probes one random peer this often
	ProbeTimeout     time.Duration // wait for a probe's ack before indirect probes; < ProbeInterval
	SuspicionMult    int           // scales the suspect -> dead timeout (see above)
	GossipInterval   time.Duration // gossip round; metadata and failures spread in a few rounds
	PushPullInterval time.Duration // full state exchange with one peer; also re-joins the seeds
	TCPTimeout       time.Duration // dial and I/O timeout for joins and rendezvous messages
	JoinBackoffMin   time.Duration // first wait between join attempts
	JoinBackoffMax   time.Duration // the wait doubles (with jitter) up to this
	// RendezvousSync: a waiting rendezvous exchanges state with a random
	// member this often (rendezvous_sync.go).
	RendezvousSync time.Duration
}

// LANTiming returns memberlist's LAN defaults: probe every 1 s (500 ms
// timeout), suspicion multiplier 4, gossip every 200 ms, push/pull every
// 30 s, TCP timeout 10 s; joins retry from 200 ms backing off to 5 s; a
// waiting rendezvous exchanges state every 2 s.
func LANTiming() Timing {
	return Timing{
		ProbeInterval:    time.Second,
		ProbeTimeout:     500 * time.Millisecond,
		SuspicionMult:    4,
		GossipInterval:   200 * time.Millisecond,
		PushPullInterval: 30 * time.Second,
		TCPTimeout:       10 * time.Second,
		JoinBackoffMin:   200 * time.Millisecond,
		JoinBackoffMax:   5 * time.Second,
		RendezvousSync:   2 * time.Second,
	}
}

// FastTiming is for tests and single-host runs: a dead member is seen by
// the others in about 1-2 s. It costs more packets, so keep it off large
// clusters.
func FastTiming() Timing {
	return Timing{
		ProbeInterval:    200 * time.Millisecond,
		ProbeTimeout:     100 * time.Millisecond,
		SuspicionMult:    4,
		GossipInterval:   50 * time.Millisecond,
		PushPullInterval: 2 * time.Second,
		TCPTimeout:       2 * time.Second,
		JoinBackoffMin:   50 * time.Millisecond,
		JoinBackoffMax:   500 * time.Millisecond,
		RendezvousSync:   400 * time.Millisecond,
	}
}

func (t Timing) withDefaults() Timing {
	d := LANTiming()
	set := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&t.ProbeInterval, d.ProbeInterval)
	set(&t.ProbeTimeout, d.ProbeTimeout)
	set(&t.GossipInterval, d.GossipInterval)
	set(&t.PushPullInterval, d.PushPullInterval)
	set(&t.TCPTimeout, d.TCPTimeout)
	set(&t.JoinBackoffMin, d.JoinBackoffMin)
	set(&t.JoinBackoffMax, d.JoinBackoffMax)
	set(&t.RendezvousSync, d.RendezvousSync)
	if t.SuspicionMult <= 0 {
		t.SuspicionMult = d.SuspicionMult
	}
	if t.ProbeTimeout >= t.ProbeInterval {
		t.ProbeTimeout = t.ProbeInterval / 2
	}
	if t.JoinBackoffMax < t.JoinBackoffMin {
		t.JoinBackoffMax = t.JoinBackoffMin
	}
	return t
}

// leaveTimeout bounds the wait for our leave message to go out.
func (t Timing) leaveTimeout() time.Duration {
	return max(time.Second, 10*t.GossipInterval)
}

// Dilated returns t with every duration multiplied by k (> 0), after
// filling zero fields with LANTiming's; SuspicionMult is a count and stays.
// A control-plane study runs many members on one host with dilated timing
// so that the host's CPU keeps up: the protocol takes the same steps in k
// times the time, so durations measured under it, divided by k, are t's
// (as long as packet handling stays short next to the dilated intervals,
// which is what dilation buys).
func (t Timing) Dilated(k float64) Timing {
	t = t.withDefaults()
	scale := func(d *time.Duration) { *d = time.Duration(float64(*d) * k) }
	for _, d := range []*time.Duration{&t.ProbeInterval, &t.ProbeTimeout, &t.GossipInterval, &t.PushPullInterval,
		&t.TCPTimeout, &t.JoinBackoffMin, &t.JoinBackoffMax, &t.RendezvousSync} {
		scale(d)
	}
	return t
}

// rendezvousTick is how long the rendezvous loop sleeps at most between
// looks at its timers (membership changes wake it sooner): rdvTick, or a
// quarter of the gossip round or of the state-exchange period, whichever
// is shorter, when those are slower than LAN's (dilated timing), so that
// polling does not outweigh the protocol it waits for.
func (t Timing) rendezvousTick() time.Duration {
	return max(rdvTick, min(t.GossipInterval, t.RendezvousSync)/4)
}
