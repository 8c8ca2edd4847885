package cluster

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// rdvMagic starts every rendezvous message, so that other user messages on
// the same memberlist are told apart.
const rdvMagic = 'R'

// Rendezvous message kinds.
const (
	rdvPrepare = "prepare" // coordinator -> member: proposal
	rdvAck     = "ack"     // member -> coordinator: accepted and locked
	rdvNack    = "nack"    // member -> coordinator: refused, with Reason and Seen
	rdvCommit  = "commit"  // coordinator -> member: the proposal is the group
	rdvAbort   = "abort"   // coordinator -> member: the proposal is dropped
	msgLeave   = "leave"   // member -> members: I am leaving (see Leave)
)

// rdvMsg is one rendezvous message; a proposal is named by Gen and Coord.
type rdvMsg struct {
	Kind    string   `json:"k"`
	Job     string   `json:"j"`
	From    string   `json:"f"`
	Gen     uint64   `json:"g"`
	Coord   string   `json:"c"`
	Members []Member `json:"m,omitempty"` // prepare
	BusURL  string   `json:"b,omitempty"` // prepare
	Seen    uint64   `json:"s,omitempty"` // nack: the sender's highest generation
	Reason  string   `json:"r,omitempty"` // nack
}

func (m *Membership) rdvMsgLocked(kind string, p *rdvProposal) rdvMsg {
	msg := rdvMsg{Kind: kind, Job: m.self.Job, From: m.name, Gen: p.Gen, Coord: p.Coord}
	if kind == rdvPrepare {
		msg.Members, msg.BusURL = p.Members, p.BusURL
	}
	return msg
}

func (m *Membership) abortMsgsLocked(p *rdvProposal) []rdvOut {
	var out []rdvOut
	for _, mem := range p.Members {
		if mem.Name != m.name {
			out = append(out, rdvOut{mem.Name, m.rdvMsgLocked(rdvAbort, p)})
		}
	}
	return out
}

// handleRdvMsg handles a message from memberlist's receive path: it only
// updates state under mu; any reply is sent from another goroutine.
func (m *Membership) handleRdvMsg(msg rdvMsg) {
	m.mu.Lock()
	if msg.Job != m.self.Job || m.shutdown {
		m.mu.Unlock()
		return
	}
	r := &m.rdv
	var reply *rdvMsg
	switch msg.Kind {
	case rdvPrepare:
		rep := m.onPrepareLocked(msg)
		reply = &rep
	case rdvAck, rdvNack:
		if r.lock.is(msg.Gen, msg.Coord) && msg.Coord == m.name {
			if msg.Kind == rdvAck {
				r.acks[msg.From] = true
			} else {
				r.maxSeen = max(r.maxSeen, msg.Seen)
				if r.refusal == "" {
					r.refusal = msg.From + " refused: " + msg.Reason
				}
			}
		}
	case rdvCommit:
		switch {
		case r.lock.is(msg.Gen, msg.Coord):
			r.commit, r.lock = r.lock, nil
		case r.lock == nil && r.active && r.commit == nil && r.released.is(msg.Gen, msg.Coord):
			// We gave up on the coordinator but promised nothing since.
			r.commit, r.released = r.released, nil
		}
	case rdvAbort:
		if r.lock.is(msg.Gen, msg.Coord) {
			r.lock = nil
		}
	case msgLeave:
		if _, live := m.peers[msg.From]; live {
			m.leaving[msg.From] = true
		}
	}
	m.signalLocked()
	m.mu.Unlock()
	if reply != nil {
		go func() {
			if err := m.sendRdv(msg.From, *reply); err != nil {
				m.log.Debug().Err(err).Str("to", msg.From).Msg("rendezvous: reply not sent")
			}
		}()
	}
}

// onPrepareLocked decides whether to accept a proposal (see the protocol).
func (m *Membership) onPrepareLocked(msg rdvMsg) rdvMsg {
	r := &m.rdv
	refuse := func(format string, args ...any) rdvMsg {
		why := fmt.Sprintf(format, args...)
		m.log.Debug().Uint64("generation", msg.Gen).Str("coordinator", msg.Coord).Str("reason", why).Msg("rendezvous: refusing proposal")
		return rdvMsg{Kind: rdvNack, Job: m.self.Job, From: m.name, Gen: msg.Gen, Coord: msg.Coord, Seen: m.self.Seen, Reason: why}
	}
	accept := rdvMsg{Kind: rdvAck, Job: m.self.Job, From: m.name, Gen: msg.Gen, Coord: msg.Coord}
	if !r.active || r.commit != nil {
		return refuse("not waiting in rendezvous")
	}
	if r.lock.is(msg.Gen, msg.Coord) {
		return accept // a repeat
	}
	if len(msg.Members) == 0 || msg.Members[0].Name != msg.Coord || msg.From != msg.Coord {
		return refuse("malformed proposal")
	}
	in := map[string]bool{}
	mine := -1
	for i, mem := range msg.Members {
		in[mem.Name] = true
		if mem.Name == m.name {
			mine = i
		}
	}
	switch {
	case mine < 0:
		return refuse("not in the proposed group")
	case msg.Members[mine] != m.self.Member:
		return refuse("the proposal has stale metadata for me")
	case r.lock != nil && (r.lock.Coord != msg.Coord || msg.Gen <= r.lock.Gen):
		return refuse("holding generation %d of %s", r.lock.Gen, r.lock.Coord)
	case r.lock == nil && msg.Gen <= m.self.Seen:
		return refuse("generation %d is not newer than %d", msg.Gen, m.self.Seen)
	}
	if p, ok := m.peers[msg.Coord]; !ok || !p.ok {
		return refuse("coordinator %s not known yet", msg.Coord)
	}
	ready, _ := m.readyViewLocked()
	for _, v := range ready {
		if !v.Less(msg.Members[0]) {
			break
		}
		if !in[v.Name] {
			return refuse("%s is waiting and sorts before the coordinator", v.Name)
		}
	}
	// A newer proposal of the same coordinator replaces its older one: a
	// coordinator proposes again only after dropping the previous proposal.
	r.lock = &rdvProposal{Gen: msg.Gen, Coord: msg.Coord, Members: msg.Members, BusURL: msg.BusURL}
	r.released = nil
	m.self.Seen = msg.Gen
	m.metaChangedLocked()
	return accept
}

// sendRdv sends msg to the live node named to.
func (m *Membership) sendRdv(to string, msg rdvMsg) error {
	m.mu.Lock()
	p, ok := m.peers[to]
	var node memberlist.Node
	if ok {
		node = p.node
	}
	down := m.shutdown
	m.mu.Unlock()
	switch {
	case down:
		return fmt.Errorf("membership closed")
	case !ok:
		return fmt.Errorf("%s is not a live member", to)
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	return m.ml.SendReliable(&node, append([]byte{rdvMagic}, b...))
}

// sendAll sends the messages in parallel. It returns once all are sent or
// failed, or after wait; with wait 0 it returns at once. A prepare that
// cannot be sent refuses its proposal.
func (m *Membership) sendAll(out []rdvOut, wait time.Duration) {
	if len(out) == 0 {
		return
	}
	var wg sync.WaitGroup
	for _, o := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := m.sendRdv(o.to, o.msg)
			if err == nil {
				return
			}
			m.log.Debug().Err(err).Str("to", o.to).Str("kind", o.msg.Kind).Msg("rendezvous: send failed")
			if o.msg.Kind == rdvPrepare {
				m.mu.Lock()
				if m.rdv.lock.is(o.msg.Gen, o.msg.Coord) && m.rdv.refusal == "" {
					m.rdv.refusal = fmt.Sprintf("cannot reach %s: %v", o.to, err)
					m.signalLocked()
				}
				m.mu.Unlock()
			} else if o.msg.Kind == rdvCommit {
				m.log.Warn().Err(err).Str("to", o.to).Uint64("generation", o.msg.Gen).
					Msg("rendezvous: commit not delivered; that member will learn it from gossip or the group will fail and regroup")
			}
		}()
	}
	if wait > 0 {
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
		}
	}
}
