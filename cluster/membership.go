package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/rs/zerolog"
)

// DefaultGossipPort is memberlist's usual port, used for seeds given
// without one and for a bind address without one.
const DefaultGossipPort = 7946

// DefaultJoinTimeout bounds Join when MembershipConfig.JoinTimeout is zero;
// it matches torchrun's join timeout.
const DefaultJoinTimeout = 10 * time.Minute

// metaMaxSize is memberlist's limit on node metadata.
const metaMaxSize = memberlist.MetaMaxSize

// eventBuffer is how many member events wait for a slow reader before the
// oldest are dropped.
const eventBuffer = 1024

// ErrNameConflict means another live process uses this node's name: a
// previous process of the same slot that the cluster has not yet declared
// dead, restarted without a new incarnation.
var ErrNameConflict = errors.New("node name already in use")

// MembershipConfig configures Join.
type MembershipConfig struct {
	// Member describes this process. The caller fills Job, Host, NodeRank,
	// LocalRank, Incarnation, Devices and DataAddr; an empty Name becomes
	// NodeName(Job, Host, LocalRank, Incarnation). A restarted process must
	// use a higher Incarnation than its predecessor.
	Member Member
	// BindAddr is the gossip host:port to listen on (UDP and TCP); port 0
	// picks a free one, no port means DefaultGossipPort, an empty host all
	// interfaces.
	BindAddr string
	// AdvertiseAddr is the host:port peers use to reach us, when it differs
	// from the bound address (NAT, or a bind on all interfaces); port 0 or
	// none means the bound port, as does any port when binding port 0.
	AdvertiseAddr string
	// Seeds are host:port addresses of members to join. A DNS name is
	// resolved to every address it has (a Kubernetes headless Service).
	// Empty, or only this node's own address, starts a new cluster.
	Seeds []string
	// JoinTimeout bounds the joining; 0 means DefaultJoinTimeout. Joins are
	// retried with exponential backoff and jitter until then.
	JoinTimeout time.Duration
	// SecretKey, when set, encrypts gossip with AES (16, 24 or 32 bytes; see
	// LoadGossipKey). Nodes with another key, or none, cannot join.
	SecretKey []byte
	// Timing of gossip and failure detection; zero means LANTiming.
	Timing Timing
	Log    zerolog.Logger
}

// MemberEventKind says what happened to a member.
type MemberEventKind int

const (
	// MemberJoined: a member appeared (or came back after being declared dead).
	MemberJoined MemberEventKind = iota + 1
	// MemberLeft: a member left gracefully (Leave or Close).
	MemberLeft
	// MemberFailed: a member was declared dead by the failure detector.
	MemberFailed
	// MemberUpdated: a member changed its metadata.
	MemberUpdated
)

func (k MemberEventKind) String() string {
	switch k {
	case MemberJoined:
		return "joined"
	case MemberLeft:
		return "left"
	case MemberFailed:
		return "failed"
	case MemberUpdated:
		return "updated"
	}
	return fmt.Sprintf("MemberEventKind(%d)", int(k))
}

// MemberEvent is a change of another member of this job.
type MemberEvent struct {
	Kind   MemberEventKind
	Member Member
	Time   time.Time
}

// nodeMeta is what a node publishes in its memberlist metadata: its Member
// plus its rendezvous state (see rendezvous.go).
type nodeMeta struct {
	Member
	Ready   bool   `json:"rdy,omitempty"`  // waiting in Rendezvous
	Running bool   `json:"run,omitempty"`  // running in group Group (committed, not regrouping)
	Seen    uint64 `json:"seen,omitempty"` // highest generation accepted or committed
	Group   uint64 `json:"grp,omitempty"`  // generation of the last group it committed
}

// peer is a live node as the event delegate last saw it.
type peer struct {
	node memberlist.Node // for sending; Meta is not kept here
	meta nodeMeta
	ok   bool // meta decoded (nodes of other programs may publish anything)
}

// Membership is this process's view of the job's members, kept by
// hashicorp/memberlist gossip. All methods are safe for concurrent use.
//
// Threading: memberlist calls its delegates (mlHooks) from its own
// goroutines, some while holding its node lock; they take mu and never block
// nor call back into memberlist. Code holding mu never calls into memberlist.
type Membership struct {
	cfg  MembershipConfig
	t    Timing
	log  zerolog.Logger
	ml   *memberlist.Memberlist
	name string

	metaDirty chan struct{} // cap 1: the publisher re-advertises our metadata
	done      chan struct{} // closed by Shutdown
	wg        sync.WaitGroup
	life      sync.Mutex // serialises Leave and Shutdown (memberlist panics on leave after shutdown)

	mu      sync.Mutex
	self    nodeMeta
	peers   map[string]*peer // live nodes of every job, self included, by name
	leaving map[string]bool  // members that announced they leave
	changed chan struct{}    // closed and replaced on every change (see changes)
	// view caches jobViewLocked until the next change: every change of
	// peers or self signals (signalLocked), which drops it. Read-only.
	view     []nodeMeta
	conflict error // set when another process claims our name while we join
	joined   bool  // Join succeeded
	events   chan MemberEvent
	dropped  uint64
	left     bool // Leave was called
	shutdown bool
	rdv      rdvState
}

// Join starts this process's membership node, joins the seeds and returns
// once it is part of a cluster: it reached another node, or every seed is
// itself (the first node). Joining is retried with backoff until
// cfg.JoinTimeout or ctx ends; then, or on a name conflict or a bad
// configuration, it returns an error and leaves nothing running.
func Join(ctx context.Context, cfg MembershipConfig) (*Membership, error) {
	t := cfg.Timing.withDefaults()
	if cfg.JoinTimeout <= 0 {
		cfg.JoinTimeout = DefaultJoinTimeout
	}
	mem := cfg.Member
	if mem.Job == "" || mem.Host == "" {
		return nil, fmt.Errorf("membership: member needs a job and a host (got job %q host %q)", mem.Job, mem.Host)
	}
	if mem.Name == "" {
		mem.Name = NodeName(mem.Job, mem.Host, mem.LocalRank, mem.Incarnation)
	}
	cfg.Member = mem
	if err := checkMetaSize(mem); err != nil {
		return nil, err
	}
	if len(cfg.SecretKey) > 0 {
		if err := checkGossipKey(cfg.SecretKey); err != nil {
			return nil, fmt.Errorf("membership: gossip key: %w", err)
		}
	}

	m := &Membership{
		cfg:       cfg,
		t:         t,
		log:       cfg.Log.With().Str("node", mem.Name).Logger(),
		name:      mem.Name,
		metaDirty: make(chan struct{}, 1),
		done:      make(chan struct{}),
		self:      nodeMeta{Member: mem},
		peers:     map[string]*peer{},
		leaving:   map[string]bool{},
		changed:   make(chan struct{}),
		events:    make(chan MemberEvent, eventBuffer),
	}
	mlc, err := m.memberlistConfig()
	if err != nil {
		return nil, err
	}
	ml, err := memberlist.Create(mlc)
	if err != nil {
		return nil, fmt.Errorf("membership: start gossip on %s: %w", cfg.BindAddr, err)
	}
	m.ml = ml
	m.wg.Add(1)
	go m.publishLoop()

	if err := m.joinSeeds(ctx); err != nil {
		m.Shutdown()
		return nil, err
	}
	m.mu.Lock()
	m.joined = true
	m.mu.Unlock()
	if len(cfg.Seeds) > 0 {
		m.wg.Add(2)
		go m.rejoinLoop()
		go m.settleLoop()
	}
	m.log.Debug().Str("addr", m.ml.LocalNode().Address()).Int("nodes", m.ml.NumMembers()).Msg("membership: joined")
	return m, nil
}

// memberlistConfig translates our configuration.
func (m *Membership) memberlistConfig() (*memberlist.Config, error) {
	c := memberlist.DefaultLANConfig()
	c.Name = m.name
	host, port, err := splitHostPortDefault(m.cfg.BindAddr, DefaultGossipPort)
	if err != nil {
		return nil, fmt.Errorf("membership: bind address %q: %w", m.cfg.BindAddr, err)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	if host, err = resolveOneIP(host); err != nil {
		return nil, fmt.Errorf("membership: bind address %q: %w", m.cfg.BindAddr, err)
	}
	c.BindAddr, c.BindPort, c.AdvertisePort = host, port, port
	if m.cfg.AdvertiseAddr != "" {
		ah, ap, err := splitHostPortDefault(m.cfg.AdvertiseAddr, port)
		if err != nil {
			return nil, fmt.Errorf("membership: advertise address %q: %w", m.cfg.AdvertiseAddr, err)
		}
		if ah, err = resolveOneIP(ah); err != nil {
			return nil, fmt.Errorf("membership: advertise address %q: %w", m.cfg.AdvertiseAddr, err)
		}
		c.AdvertiseAddr = ah
		if ap != 0 {
			c.AdvertisePort = ap
		}
	}
	t := m.t
	c.ProbeInterval, c.ProbeTimeout, c.SuspicionMult = t.ProbeInterval, t.ProbeTimeout, t.SuspicionMult
	c.GossipInterval, c.PushPullInterval, c.TCPTimeout = t.GossipInterval, t.PushPullInterval, t.TCPTimeout
	c.GossipToTheDeadTime = t.PushPullInterval
	// A restarted process normally has a new name (new incarnation). If one
	// comes back under its old name, let it take the name over as soon as
	// the old process is known dead instead of after the dead are reaped.
	c.DeadNodeReclaimTime = t.ProbeInterval
	c.SecretKey = slices.Clone(m.cfg.SecretKey)
	hooks := &mlHooks{m}
	c.Delegate, c.Events, c.Conflict = hooks, hooks, hooks
	c.Logger = newMemberlistLogger(m.log)
	return c, nil
}

// checkMetaSize makes sure mem fits memberlist's metadata limit whatever
// rendezvous state it carries.
func checkMetaSize(mem Member) error {
	b, err := json.Marshal(nodeMeta{Member: mem, Ready: true, Running: true, Seen: math.MaxUint64, Group: math.MaxUint64})
	if err != nil {
		return fmt.Errorf("membership: encode metadata: %w", err)
	}
	if len(b) > metaMaxSize {
		return fmt.Errorf("membership: metadata of %s is %d bytes encoded, over memberlist's limit of %d; shorten the job, host or address fields",
			mem.Name, len(b), metaMaxSize)
	}
	return nil
}

// Self returns this process's member record.
func (m *Membership) Self() Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.self.Member
}

// Addr returns the gossip address (ip:port) peers reach this node at, to
// use as a seed.
func (m *Membership) Addr() string { return m.ml.LocalNode().Address() }

// Members returns the live members of this job sorted by Member.Less, self
// included. Of several live processes of one slot (a restart seen before its
// predecessor is declared dead) only the highest incarnation is listed.
func (m *Membership) Members() []Member {
	m.mu.Lock()
	defer m.mu.Unlock()
	view := m.jobViewLocked()
	out := make([]Member, len(view))
	for i, v := range view {
		out[i] = v.Member
	}
	return out
}

// jobViewLocked returns this job's live nodes, one per slot (the highest
// incarnation), sorted by Member.Less; our own entry is our current state,
// not gossip's copy of it.
//
// The view is cached until the next change and must not be modified: with
// 256 members on one host, rebuilding and sorting it at every rendezvous
// step of every member was 43% of the CPU of their rendezvous.
func (m *Membership) jobViewLocked() []nodeMeta {
	if m.view != nil {
		return m.view
	}
	bySlot := map[string]nodeMeta{}
	add := func(nm nodeMeta) {
		s := nm.Slot()
		if old, ok := bySlot[s]; ok && (old.Incarnation > nm.Incarnation ||
			(old.Incarnation == nm.Incarnation && old.Name <= nm.Name)) {
			return
		}
		bySlot[s] = nm
	}
	for name, p := range m.peers {
		if p.ok && name != m.name && p.meta.Job == m.self.Job {
			add(p.meta)
		}
	}
	add(m.self)
	out := make([]nodeMeta, 0, len(bySlot))
	for _, nm := range bySlot {
		out = append(out, nm)
	}
	slices.SortFunc(out, func(a, b nodeMeta) int {
		switch {
		case a.Less(b.Member):
			return -1
		case b.Less(a.Member):
			return 1
		}
		return 0
	})
	m.view = out
	return out
}

// Events returns the changes of this job's other members, oldest first. The
// channel holds eventBuffer events; when the reader falls behind, the oldest
// are dropped (see DroppedEvents) so that gossip never waits. It is closed
// by Shutdown.
func (m *Membership) Events() <-chan MemberEvent { return m.events }

// DroppedEvents returns how many events were dropped for a slow reader.
func (m *Membership) DroppedEvents() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dropped
}

// UpdateMeta changes this member's metadata and gossips it. fn must not
// change Name or Job; the result must fit memberlist's 512-byte limit.
func (m *Membership) UpdateMeta(fn func(*Member)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	mem := m.self.Member
	fn(&mem)
	if mem.Name != m.self.Name || mem.Job != m.self.Job {
		return fmt.Errorf("membership: UpdateMeta may not change the name or job of %s", m.name)
	}
	if err := checkMetaSize(mem); err != nil {
		return err
	}
	m.self.Member = mem
	m.metaChangedLocked()
	return nil
}

// metaChangedLocked schedules our metadata for gossip and wakes waiters.
func (m *Membership) metaChangedLocked() {
	select {
	case m.metaDirty <- struct{}{}:
	default:
	}
	m.signalLocked()
}

// signalLocked wakes everyone waiting on changes.
func (m *Membership) signalLocked() {
	m.view = nil
	close(m.changed)
	m.changed = make(chan struct{})
}

// changes returns a channel closed at the next change of membership,
// metadata or rendezvous state.
func (m *Membership) changes() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

// publishLoop re-advertises our metadata after each change, one update at a
// time so that the last one gossiped is the latest.
func (m *Membership) publishLoop() {
	defer m.wg.Done()
	for {
		select {
		case <-m.done:
			return
		case <-m.metaDirty:
		}
		// UpdateNode applies and queues the update at once, then waits for
		// the broadcast to finish; that wait is not needed (gossip repeats
		// it), and would hold up Shutdown, so it is cut to a token.
		_ = m.ml.UpdateNode(time.Nanosecond)
	}
}

// Leave announces that this member leaves, so that the others see it as
// Left rather than Failed: it tells the job's members directly, then
// gossips the leave, waiting at most timeout for each. The node keeps
// gossiping until Shutdown.
func (m *Membership) Leave(timeout time.Duration) error {
	m.life.Lock()
	defer m.life.Unlock()
	m.mu.Lock()
	if m.shutdown || m.left {
		m.mu.Unlock()
		return nil
	}
	m.left = true
	var out []rdvOut
	for _, v := range m.jobViewLocked() {
		if v.Name != m.name {
			out = append(out, rdvOut{v.Name, rdvMsg{Kind: msgLeave, Job: m.self.Job, From: m.name}})
		}
	}
	m.signalLocked()
	m.mu.Unlock()
	m.sendAll(out, timeout)
	if err := m.ml.Leave(timeout); err != nil {
		return fmt.Errorf("membership: leave: %w", err)
	}
	return nil
}

// Shutdown stops gossiping without leaving: the others will declare this
// member failed. It is idempotent.
func (m *Membership) Shutdown() {
	m.life.Lock()
	defer m.life.Unlock()
	m.mu.Lock()
	if m.shutdown {
		m.mu.Unlock()
		return
	}
	m.shutdown = true
	close(m.done)
	m.mu.Unlock()
	if err := m.ml.Shutdown(); err != nil {
		m.log.Warn().Err(err).Msg("membership: shutdown")
	}
	m.wg.Wait()
	m.mu.Lock()
	close(m.events)
	m.signalLocked()
	m.mu.Unlock()
}

// Close leaves the cluster (so peers see a graceful Left within a gossip
// round or two) and shuts down. It is idempotent.
func (m *Membership) Close() error {
	err := m.Leave(m.t.leaveTimeout())
	m.Shutdown()
	return err
}

// splitHostPortDefault splits "host:port", "host" or ":port"; a missing
// port is def.
func splitHostPortDefault(s string, def int) (string, int, error) {
	if s == "" {
		return "", def, nil
	}
	host, ps, err := net.SplitHostPort(s)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) && ae.Err == "missing port in address" {
			return s, def, nil
		}
		return "", 0, err
	}
	port, err := strconv.ParseUint(ps, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	return host, int(port), nil
}

// resolveOneIP returns host itself if it is an IP, else its first address
// (IPv4 preferred): memberlist binds and advertises IPs only.
func resolveOneIP(host string) (string, error) {
	if net.ParseIP(host) != nil {
		return host, nil
	}
	ips, err := lookupHost(context.Background(), host)
	if err != nil {
		return "", err
	}
	for _, ip := range ips {
		if ip.IP.To4() != nil {
			return ip.IP.String(), nil
		}
	}
	if len(ips) == 0 {
		return "", fmt.Errorf("no address for %s", host)
	}
	return ips[0].IP.String(), nil
}
