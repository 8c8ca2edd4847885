package cluster

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// A member's readiness travels as gossip of its metadata, which is best
// effort: memberlist sends each update a bounded number of times, and an
// update that misses a member (a burst of updates when a whole job calls
// Rendezvous at once; the study of `fdsm study control` lost one in about a
// third of the 8-member rendezvous tried) is repaired only by the next full
// state exchange, PushPullInterval later (30 s on a LAN). A waiting
// rendezvous therefore exchanges state with one random member of the job
// whenever its view of the job has not changed for Timing.RendezvousSync
// (2 s on a LAN: ten gossip rounds, so gossip has had its chance): a stale
// view heals in about that time, and a view that does change costs
// nothing.

// rdvSync decides when a waiting rendezvous exchanges state. Threading:
// the Rendezvous goroutine only.
type rdvSync struct {
	after time.Duration
	view  string    // the view last seen
	since time.Time // when it last changed, or when we last synced
}

// due reports whether view, unchanged since a sync was last due, calls for
// a state exchange now; it restarts the wait when it does.
func (s *rdvSync) due(view string, now time.Time) bool {
	if view != s.view || s.since.IsZero() {
		s.view, s.since = view, now
		return false
	}
	if now.Sub(s.since) < s.after {
		return false
	}
	s.since = now
	return true
}

// rdvViewKey is a signature of what a rendezvous decides on: every job
// member's readiness, group and seen generation.
func (m *Membership) rdvViewKey() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	for _, v := range m.jobViewLocked() {
		fmt.Fprintf(&b, "%s %v %v %d %d;", v.Name, v.Ready, v.Running, v.Seen, v.Group)
	}
	return b.String()
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
