package cluster

import "time"

// A job's members join at about the same time, and a join reaches the
// members that joined before it only as gossip, which is best effort (see
// rendezvous_sync.go). A member that misses one learns of it at its next
// push/pull, PushPullInterval later, which memberlist stretches above 32
// nodes (60 s at 64 members on a LAN, 90 s at 128): `fdsm study control`
// saw 64 members take 67 and 90 s to form while 128 formed in 10 s. So a
// member that has just joined exchanges state with a random member of its
// job every Timing.RendezvousSync until its view of the job has not
// changed for settleQuiet exchanges in a row, settleMax at the most: the
// same anti-entropy a waiting rendezvous does, while the job is forming.
// The bound keeps the cost finite where views keep changing (members
// flapping); memberlist's push/pull takes over after it.
const (
	settleQuiet = 3
	settleMax   = 8
)

// settleLoop runs those exchanges after Join; it ends early on Shutdown,
// Leave (an exchange would join again) or the first Rendezvous (whose own
// exchanges take over).
func (m *Membership) settleLoop() {
	defer m.wg.Done()
	tick := time.NewTicker(m.t.RendezvousSync)
	defer tick.Stop()
	seen, quiet := len(m.Members()), 0
	for i := 0; quiet < settleQuiet && i < settleMax; i++ {
		select {
		case <-m.done:
			return
		case <-tick.C:
		}
		m.mu.Lock()
		stop := m.left || m.rdv.active || m.rdv.last != nil
		m.mu.Unlock()
		if stop {
			return
		}
		m.syncWithRandomMember()
		if n := len(m.Members()); n != seen {
			seen, quiet = n, 0
		} else {
			quiet++
		}
	}
}
