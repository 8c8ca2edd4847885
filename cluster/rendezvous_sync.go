package cluster

import (
	"math/rand/v2"
	"time"
)

// A member's readiness travels as gossip of its metadata, which is best
// effort and has a bounded rate: memberlist sends each update a bounded
// number of times, a few updates per gossip packet. An update that misses
// a member is repaired only by the next full state exchange,
// PushPullInterval later (30 s on a LAN); `fdsm study control` lost one in
// about a third of the 8-member rendezvous tried. And when a whole job
// calls Rendezvous at once, every member's update competes for the same
// gossip: at 256 members the views had not converged after 90 s. A waiting
// rendezvous therefore exchanges its whole state with one random member
// of the job every Timing.RendezvousSync (2 s on a LAN, ten gossip rounds):
// views converge within a few exchanges, whatever gossip lost or has not
// delivered yet, at the cost of one exchange (about 220 bytes a member) per
// waiting member per period.

// rdvSync decides when a waiting rendezvous exchanges state. Threading:
// the Rendezvous goroutine only.
type rdvSync struct {
	after time.Duration
	last  time.Time // the last exchange, or the rendezvous' start
}

// due reports whether an exchange is due now, and if so restarts the
// period.
func (s *rdvSync) due(now time.Time) bool {
	if s.last.IsZero() {
		s.last = now
		return false
	}
	if now.Sub(s.last) < s.after {
		return false
	}
	s.last = now
	return true
}

// syncWithRandomMember does a full state exchange (memberlist's push/pull,
// through Join) with one other live member of the job, picked at random.
func (m *Membership) syncWithRandomMember() {
	m.mu.Lock()
	var addrs []string
	for name, p := range m.peers {
		if p.ok && name != m.name && p.meta.Job == m.self.Job {
			addrs = append(addrs, p.node.Address())
		}
	}
	m.mu.Unlock()
	if len(addrs) == 0 {
		return
	}
	a := addrs[rand.IntN(len(addrs))]
	if _, err := m.ml.Join([]string{a}); err != nil {
		m.log.Debug().Err(err).Str("peer", a).Msg("rendezvous: state exchange failed")
	}
}
