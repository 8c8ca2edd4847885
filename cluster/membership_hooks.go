package cluster

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"
)

// mlHooks receives memberlist's callbacks: metadata, user messages
// (rendezvous), node events and name conflicts. memberlist calls the event
// and conflict hooks while holding its node lock, so every hook only takes
// Membership.mu briefly and never blocks.
type mlHooks struct{ m *Membership }

var (
	_ memberlist.Delegate         = (*mlHooks)(nil)
	_ memberlist.EventDelegate    = (*mlHooks)(nil)
	_ memberlist.ConflictDelegate = (*mlHooks)(nil)
)

// NodeMeta returns our metadata. Join and UpdateMeta checked that it fits
// whatever the rendezvous state, so the fallback is only a safety net.
func (h *mlHooks) NodeMeta(limit int) []byte {
	m := h.m
	m.mu.Lock()
	self := m.self
	m.mu.Unlock()
	b, err := json.Marshal(self)
	if err != nil || len(b) > limit {
		m.log.Error().Err(err).Int("bytes", len(b)).Msg("membership: metadata too large; publishing the member record only")
		b, _ = json.Marshal(nodeMeta{Member: self.Member})
	}
	return b
}

// NotifyMsg receives rendezvous messages sent with SendReliable.
func (h *mlHooks) NotifyMsg(b []byte) {
	if len(b) == 0 || b[0] != rdvMagic {
		return
	}
	var msg rdvMsg
	if err := json.Unmarshal(b[1:], &msg); err != nil {
		h.m.log.Warn().Err(err).Msg("membership: undecodable rendezvous message")
		return
	}
	h.m.handleRdvMsg(msg)
}

func (h *mlHooks) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (h *mlHooks) LocalState(join bool) []byte                { return nil }
func (h *mlHooks) MergeRemoteState(buf []byte, join bool)     {}

func (h *mlHooks) NotifyJoin(n *memberlist.Node)   { h.m.nodeAlive(n, MemberJoined) }
func (h *mlHooks) NotifyUpdate(n *memberlist.Node) { h.m.nodeAlive(n, MemberUpdated) }

// NotifyLeave is called when a node left or was declared dead. memberlist
// does not tell which (the Node's State is not filled in), so a leaving
// member tells its job first (see Leave).
func (h *mlHooks) NotifyLeave(n *memberlist.Node) {
	m := h.m
	m.mu.Lock()
	defer m.mu.Unlock()
	kind := MemberFailed
	if m.leaving[n.Name] {
		kind = MemberLeft
		delete(m.leaving, n.Name)
	}
	p, ok := m.peers[n.Name]
	delete(m.peers, n.Name)
	if ok && p.ok {
		m.emitLocked(kind, p.meta.Member)
	}
	m.signalLocked()
}

// NotifyConflict is called when two addresses claim one node name;
// memberlist keeps the entry it has and ignores the other claim. Only a
// conflict about our own name while we join is our problem: Join fails.
func (h *mlHooks) NotifyConflict(existing, other *memberlist.Node) {
	m := h.m
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case existing.Name != m.name:
		m.log.Warn().Str("name", existing.Name).Str("addr", existing.Address()).Str("other", other.Address()).
			Msg("membership: two processes claim one node name; the newer is ignored until the older is declared dead")
	case m.joined:
		m.log.Error().Str("other", other.Address()).
			Msg("membership: another process claims this node's name; it is ignored and its join fails")
	case m.conflict == nil:
		m.conflict = fmt.Errorf("membership: %w: %s is also claimed by %s (a previous process of this slot not yet declared dead?); restart with a higher incarnation",
			ErrNameConflict, m.name, other.Address())
		m.log.Error().Err(m.conflict).Msg("membership: name conflict")
		m.signalLocked()
	}
}

// nodeAlive records a live node's (possibly new) metadata.
func (m *Membership) nodeAlive(n *memberlist.Node, kind MemberEventKind) {
	p := &peer{node: *n}
	p.node.Meta = nil
	if err := json.Unmarshal(n.Meta, &p.meta); err == nil && p.meta.Name == n.Name {
		p.ok = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.peers[n.Name] = p
	if p.ok {
		m.emitLocked(kind, p.meta.Member)
	}
	m.signalLocked()
}

// emitLocked queues an event about another member of our job, dropping the
// oldest queued event when the reader is behind.
func (m *Membership) emitLocked(kind MemberEventKind, mem Member) {
	if mem.Name == m.name || mem.Job != m.self.Job || m.shutdown {
		return
	}
	ev := MemberEvent{Kind: kind, Member: mem, Time: time.Now()}
	for {
		select {
		case m.events <- ev:
			return
		default:
		}
		select {
		case <-m.events:
			m.dropped++
		default:
		}
	}
}
