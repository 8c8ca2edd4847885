package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Rendezvous protocol.
//
// Members agree on a group (the members in rank order and a generation
// number) with a small two-phase commit run by a coordinator, over
// memberlist's reliable (TCP, encrypted with the gossip key) user messages.
// Metadata gossip carries each member's rendezvous state: Ready (waiting in
// Rendezvous), Running (in a committed group, not regrouping), Seen (the
// highest generation it accepted) and Group (its last committed generation).
//
//  1. Waiting. A member in Rendezvous publishes Ready. Its view is the live
//     members of its job, one per slot (the highest incarnation). A ready
//     member is eligible unless some member runs in a group newer than any
//     generation it has seen (it is then a replacement for a running group,
//     and waits until that group regroups; see Waiting). A Ready that
//     gossip shows from a member of our last group, from before it committed
//     that group, is stale and ignored. The coordinator is the eligible ready
//     member that sorts first by Member.Less, hence rank 0.
//  2. Last call. Once at least Min eligible members are ready, the
//     coordinator waits LastCall for more, or proceeds at once when Max are
//     ready. It then runs OnCoordinator (once per call) for the bus URL.
//  3. Prepare. It proposes generation 1 + the highest generation any member
//     has seen, with the first Max eligible members sorted by Less, to each
//     of them. A member accepts (ack) only if it is waiting, the proposal
//     carries its current metadata, the generation is newer than any it has
//     seen, it holds no other proposal, it knows the coordinator, and it sees
//     no eligible member sorting before the coordinator left out. Accepting
//     locks it to the proposal; otherwise it refuses (nack) with its reason.
//  4. Commit. With every ack, the coordinator publishes Group = generation
//     and sends commit; members return the group. Any refusal, silence past
//     2*TCPTimeout, or a member dying aborts the proposal: the coordinator
//     sends abort and retries after a growing random delay with a higher
//     generation.
//  5. Recovery. A locked member unlocks when the coordinator is declared dead
//     or its metadata shows it gave up or moved on; it adopts the commit when
//     the coordinator's metadata shows the group committed (a lost commit
//     message), and still accepts a late commit of a proposal it released
//     while it has accepted nothing since.
//
// Every member that returns generation g returns the same group, since the
// coordinator decided it once, after all its members were locked to it. A
// member that dies after the commit leaves the others a group with a dead
// member; their data plane fails and they regroup with a higher generation.
// Two groups of one job can only form if gossip has not converged within
// LastCall (two coordinators each seeing the other as not ready).

// DefaultLastCall is how long a coordinator waits for more members once Min
// are ready, as torchrun's last call.
const DefaultLastCall = 30 * time.Second

// DefaultRendezvousTimeout bounds a rendezvous, as torchrun's join timeout.
const DefaultRendezvousTimeout = 10 * time.Minute

// rdvTick bounds how long the rendezvous loop sleeps between looks at its
// timers; membership changes wake it sooner.
const rdvTick = 50 * time.Millisecond

// RendezvousConfig configures Rendezvous.
type RendezvousConfig struct {
	// Min and Max bound the world size. Min 0 means 1; Max 0 means Min
	// (a fixed-size job).
	Min, Max int
	// LastCall is how long to wait for more members once Min are ready,
	// unless Max are; 0 means DefaultLastCall, negative means no wait.
	LastCall time.Duration
	// Timeout bounds the whole rendezvous; 0 means DefaultRendezvousTimeout.
	Timeout time.Duration
	// OnCoordinator, when set, is run by the coordinator before it proposes
	// (at most once per Rendezvous call); the URL it returns becomes
	// Group.BusURL. An error aborts this member's Rendezvous. Should another
	// member take over as coordinator afterwards (one sorting first arrived),
	// the hook has run on a member that is not rank 0: check Group.Rank
	// before relying on what it started.
	OnCoordinator func(ctx context.Context) (busURL string, err error)
}

func (c RendezvousConfig) withDefaults() (RendezvousConfig, error) {
	if c.Min <= 0 {
		c.Min = 1
	}
	if c.Max <= 0 {
		c.Max = c.Min
	}
	if c.Max < c.Min {
		return c, fmt.Errorf("rendezvous: max world size %d below min %d", c.Max, c.Min)
	}
	if c.LastCall == 0 {
		c.LastCall = DefaultLastCall
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultRendezvousTimeout
	}
	return c, nil
}

// rdvState is the rendezvous part of Membership, guarded by its mu.
type rdvState struct {
	active   bool            // a Rendezvous call runs
	lock     *rdvProposal    // proposal accepted (or made) and not yet settled
	acks     map[string]bool // own proposal: members that accepted
	refusal  string          // own proposal: why it must be aborted
	released *rdvProposal    // proposal unlocked without an abort (late commit still welcome)
	commit   *rdvProposal    // committed proposal for Rendezvous to return
	maxSeen  uint64          // highest generation reported by refusals
	aborts   int             // own proposals aborted during this call
	last     *Group          // last committed group
}

// rdvProposal is a proposed group, identified by generation and coordinator.
type rdvProposal struct {
	Gen      uint64
	Coord    string
	Members  []Member
	BusURL   string
	deadline time.Time // own proposal: when to stop waiting for acks
}

func (p *rdvProposal) is(gen uint64, coord string) bool {
	return p != nil && p.Gen == gen && p.Coord == coord
}

// rdvRun is one Rendezvous call's own state; only its goroutine uses it.
type rdvRun struct {
	cfg      RendezvousConfig
	minSince time.Time // when Min eligible members were first ready while we coordinate
	retryAt  time.Time // no new proposal before this
	busURL   string
	hookRan  bool
}

// Rendezvous waits until Min..Max members of the job are ready, agrees with
// them on a group and returns it: the same members, order and generation on
// every member, Rank set to this member's rank (see the protocol above).
// Members not calling Rendezvous are not included; calling it again after a
// failure regroups the survivors under a higher generation. It returns an
// error listing who is present after cfg.Timeout, or when ctx ends, the
// membership is left or closed, or OnCoordinator fails. One call at a time.
func (m *Membership) Rendezvous(ctx context.Context, cfg RendezvousConfig) (*Group, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := m.startRendezvous(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	run := &rdvRun{cfg: cfg}
	sync := rdvSync{after: m.t.RendezvousSync}
	tick := time.NewTicker(m.t.rendezvousTick())
	defer tick.Stop()
	for {
		changed := m.changes()
		act, err := m.rdvStep(run, time.Now())
		if err != nil {
			return nil, m.endRendezvous(err)
		}
		m.sendAll(act.send, 0)
		if act.group != nil {
			// Commits are sent before returning, so that our data plane does
			// not start ahead of the members still waiting for theirs.
			m.sendAll(act.commits, 2*m.t.TCPTimeout)
			m.log.Info().Stringer("group", act.group).Msg("rendezvous: group formed")
			return act.group, nil
		}
		if act.runHook {
			url, err := cfg.OnCoordinator(ctx)
			if err != nil {
				return nil, m.endRendezvous(fmt.Errorf("rendezvous: coordinator hook: %w", err))
			}
			run.busURL, run.hookRan = url, true
			continue
		}
		if sync.due(time.Now()) {
			m.syncWithRandomMember() // views converge now, not at the next push/pull (rendezvous_sync.go)
		}
		select {
		case <-changed:
		case <-tick.C:
		case <-ctx.Done():
			return nil, m.endRendezvous(m.rdvTimeoutError(cfg, ctx.Err()))
		}
	}
}

// rdvAction is what a step asks the Rendezvous loop to do outside the lock.
type rdvAction struct {
	send    []rdvOut // prepares and aborts
	commits []rdvOut
	group   *Group // committed: return it
	runHook bool   // run OnCoordinator, then step again
}

// rdvOut is a message for one member.
type rdvOut struct {
	to  string
	msg rdvMsg
}

// startRendezvous marks us ready.
func (m *Membership) startRendezvous() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.shutdown || m.left:
		return errors.New("rendezvous: membership is closed")
	case m.rdv.active:
		return errors.New("rendezvous: already running")
	}
	m.rdv = rdvState{active: true, last: m.rdv.last}
	m.self.Ready, m.self.Running = true, false
	m.metaChangedLocked()
	return nil
}

// endRendezvous marks us not ready after a failure, aborting our own
// proposal if one is open, and returns err.
func (m *Membership) endRendezvous(err error) error {
	m.mu.Lock()
	var out []rdvOut
	if p := m.rdv.lock; p != nil && p.Coord == m.name {
		out = m.abortMsgsLocked(p)
	}
	m.rdv = rdvState{last: m.rdv.last}
	m.self.Ready = false
	m.metaChangedLocked()
	m.mu.Unlock()
	m.sendAll(out, 0)
	m.log.Warn().Err(err).Msg("rendezvous failed")
	return err
}

// rdvStep advances the protocol by one decision.
func (m *Membership) rdvStep(run *rdvRun, now time.Time) (rdvAction, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.shutdown || m.left {
		return rdvAction{}, errors.New("rendezvous: membership closed while waiting")
	}
	r := &m.rdv
	if r.lock != nil && r.lock.Coord != m.name {
		m.checkCoordinatorLocked()
	}
	if r.commit != nil {
		return rdvAction{group: m.finishLocked()}, nil
	}
	if r.lock != nil {
		if r.lock.Coord == m.name {
			return m.driveProposalLocked(run, now), nil
		}
		return rdvAction{}, nil // wait for the coordinator's commit or abort
	}

	// Not locked: coordinate if we are first among the eligible ready.
	ready, _ := m.readyViewLocked()
	if len(ready) == 0 || ready[0].Name != m.name {
		run.minSince = time.Time{}
		return rdvAction{}, nil
	}
	if len(ready) < run.cfg.Min {
		run.minSince = time.Time{}
		return rdvAction{}, nil
	}
	if run.minSince.IsZero() {
		run.minSince = now
	}
	if len(ready) < run.cfg.Max && now.Sub(run.minSince) < run.cfg.LastCall {
		return rdvAction{}, nil
	}
	if now.Before(run.retryAt) {
		return rdvAction{}, nil
	}
	if run.cfg.OnCoordinator != nil && !run.hookRan {
		return rdvAction{runHook: true}, nil
	}
	ready = ready[:min(len(ready), run.cfg.Max)]
	gen := max(m.self.Seen, r.maxSeen)
	if r.last != nil {
		gen = max(gen, r.last.Generation)
	}
	p := &rdvProposal{Coord: m.name, BusURL: run.busURL, deadline: now.Add(2 * m.t.TCPTimeout)}
	for _, v := range ready {
		gen = max(gen, v.Seen)
		p.Members = append(p.Members, v.Member)
	}
	p.Gen = gen + 1
	r.lock, r.acks, r.refusal = p, map[string]bool{m.name: true}, ""
	m.self.Seen = p.Gen
	m.metaChangedLocked()
	m.log.Debug().Uint64("generation", p.Gen).Int("members", len(p.Members)).Msg("rendezvous: proposing")
	var act rdvAction
	for _, mem := range p.Members[1:] {
		act.send = append(act.send, rdvOut{mem.Name, m.rdvMsgLocked(rdvPrepare, p)})
	}
	return act, nil
}

// driveProposalLocked commits or aborts our open proposal when it can.
func (m *Membership) driveProposalLocked(run *rdvRun, now time.Time) rdvAction {
	r := &m.rdv
	p := r.lock
	why := r.refusal
	var silent []string
	for _, mem := range p.Members {
		if mem.Name == m.name {
			continue
		}
		if pe, ok := m.peers[mem.Name]; !ok || !pe.ok {
			why = mem.Name + " is gone"
			break
		}
		if !r.acks[mem.Name] {
			silent = append(silent, mem.Name)
		}
	}
	if why == "" && len(silent) == 0 {
		r.commit, r.lock = p, nil
		var act rdvAction
		for _, mem := range p.Members[1:] {
			act.commits = append(act.commits, rdvOut{mem.Name, m.rdvMsgLocked(rdvCommit, p)})
		}
		act.group = m.finishLocked()
		return act
	}
	if why == "" && now.After(p.deadline) {
		why = "no answer from " + strings.Join(silent, ", ")
	}
	if why == "" {
		return rdvAction{}
	}
	m.log.Debug().Uint64("generation", p.Gen).Str("reason", why).Msg("rendezvous: proposal aborted")
	act := rdvAction{send: m.abortMsgsLocked(p)}
	r.lock, r.acks, r.refusal = nil, nil, ""
	r.aborts++
	base := 4 * m.t.GossipInterval
	run.retryAt = now.Add(backoffJitter(min(base<<min(r.aborts, 5), 10*base)))
	m.signalLocked()
	return act
}

// checkCoordinatorLocked settles a lock whose coordinator died, gave up or
// committed without our hearing it. The coordinator's metadata counts only
// once it is as new as the proposal (Seen >= its generation).
func (m *Membership) checkCoordinatorLocked() {
	r := &m.rdv
	p := r.lock
	c, ok := m.peers[p.Coord]
	switch {
	case !ok || !c.ok:
		m.log.Debug().Str("coordinator", p.Coord).Msg("rendezvous: coordinator gone; unlocking")
	case c.meta.Seen < p.Gen:
		return
	case c.meta.Group == p.Gen:
		r.commit, r.lock = p, nil
		return
	case c.meta.Ready && c.meta.Seen == p.Gen:
		return // still collecting answers
	}
	r.released, r.lock = p, nil
	m.signalLocked()
}

// finishLocked turns the committed proposal into our Group.
func (m *Membership) finishLocked() *Group {
	p := m.rdv.commit
	g := &Group{Job: m.self.Job, Generation: p.Gen, Members: slices.Clone(p.Members), BusURL: p.BusURL, Rank: -1}
	for i, mem := range p.Members {
		if mem.Name == m.name {
			g.Rank = i
		}
	}
	last := *g
	last.Members = slices.Clone(g.Members)
	m.rdv = rdvState{last: &last}
	m.self.Ready, m.self.Running, m.self.Group, m.self.Seen = false, true, p.Gen, max(m.self.Seen, p.Gen)
	m.metaChangedLocked()
	return g
}

// readyViewLocked returns the eligible ready members (see the protocol) and
// the whole job view, both sorted by Member.Less.
func (m *Membership) readyViewLocked() (ready, view []nodeMeta) {
	view = m.jobViewLocked()
	var running uint64 // newest generation some member runs in
	for _, v := range view {
		if v.Running && v.Group > running {
			running = v.Group
		}
	}
	for _, v := range view {
		if v.Ready && v.Seen >= running && !m.staleReadyLocked(v) {
			ready = append(ready, v)
		}
	}
	return ready, view
}

// staleReadyLocked reports whether v's Ready is gossip from before our last
// group committed: v is in that group but has not published it yet.
func (m *Membership) staleReadyLocked(v nodeMeta) bool {
	g := m.rdv.last
	if g == nil || v.Group >= g.Generation {
		return false
	}
	for _, mem := range g.Members {
		if mem.Name == v.Name {
			return true
		}
	}
	return false
}

// Waiting returns the ready members (in Rendezvous) that are not in this
// member's last group, so that a running group can see that a replacement
// or a new member waits and regroup at its next checkpoint.
func (m *Membership) Waiting() []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	in := map[string]bool{}
	if g := m.rdv.last; g != nil {
		for _, mem := range g.Members {
			in[mem.Name] = true
		}
	}
	var out []Member
	for _, v := range m.jobViewLocked() {
		if v.Ready && v.Name != m.name && !in[v.Name] && !m.staleReadyLocked(v) {
			out = append(out, v.Member)
		}
	}
	return out
}

// LastGroup returns a copy of the last group this member committed, or nil.
func (m *Membership) LastGroup() *Group {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.rdv.last == nil {
		return nil
	}
	g := *m.rdv.last
	g.Members = slices.Clone(g.Members)
	return &g
}

// rdvTimeoutError explains a rendezvous that ran out of time.
func (m *Membership) rdvTimeoutError(cfg RendezvousConfig, cause error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ready, view := m.readyViewLocked()
	isReady := map[string]bool{}
	var readyNames, others []string
	for _, v := range ready {
		isReady[v.Name] = true
		readyNames = append(readyNames, v.Name)
	}
	for _, v := range view {
		switch {
		case isReady[v.Name]:
		case v.Ready:
			others = append(others, v.Name+" (waiting for its running group to regroup)")
		case v.Running:
			others = append(others, fmt.Sprintf("%s (in group generation %d)", v.Name, v.Group))
		default:
			others = append(others, v.Name+" (not in rendezvous)")
		}
	}
	what := "timed out after " + cfg.Timeout.String()
	if !errors.Is(cause, context.DeadlineExceeded) {
		what = "stopped"
	}
	return fmt.Errorf("rendezvous of job %s %s: %d ready of min %d, max %d [%s]; also present: [%s]: %w",
		m.self.Job, what, len(ready), cfg.Min, cfg.Max, strings.Join(readyNames, " "), strings.Join(others, ", "), cause)
}
