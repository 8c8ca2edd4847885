package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/fdsm-go/fdsm/bus"
	"github.com/fdsm-go/fdsm/collective"
	"github.com/fdsm-go/fdsm/collective/ring"

	"github.com/rs/zerolog"
)

// NodeConfig configures one process's part in a job: membership, the
// collective data plane, rendezvous and the control bus.
type NodeConfig struct {
	// Member describes this process (Job, Host, NodeRank, LocalRank,
	// Incarnation, Devices); StartNode fills DataAddr and Name.
	Member Member
	// GradientComm makes each group's gradient communicator from its
	// control ring (NCCL over this rank's GPU: nccl.NewGroupComm, which
	// sends rank 0's unique id over it); nil: a TCP ring of its own.
	GradientComm  func(ctx context.Context, control collective.Comm) (collective.Comm, error)
	GossipAddr    string // memberlist bind host:port (port 0: any)
	AdvertiseAddr string // gossip address peers should use, when it differs
	DataAddr      string // data-plane bind host:port (port 0: any)
	Seeds         []string
	SecretKey     []byte // gossip encryption key (LoadGossipKey)
	DataKey       []byte // data-plane key (JobKeys.Data); nil: ring connections are not authenticated
	// Insecure allows gossip and the data plane beyond loopback without a
	// gossip key and a data key (FDSM_INSECURE=1); without it StartNode
	// refuses to expose them.
	Insecure    bool
	Timing      Timing
	JoinTimeout time.Duration
	// Rendezvous bounds the world (Min, Max, LastCall, Timeout);
	// OnCoordinator is set by the node.
	Rendezvous        RendezvousConfig
	CollectiveTimeout time.Duration // 0: DefaultTimeout
	ChunkBytes        int           // ring pipelining unit (0: default)

	// NATSURL names an external control bus; empty makes rank 0 embed one
	// (BusServer configures it: loopback and bus.DefaultPort unless told
	// otherwise; a busy default port falls back to a free one).
	NATSURL   string
	BusServer bus.ServerConfig
	// Bus is the template for this process's bus client (Token,
	// NKeySeedFile, TLS, ControlSecret); URL, Job and Rank are filled in.
	Bus bus.Config
	// NoBus disables the control bus entirely.
	NoBus bool
	Log   zerolog.Logger
}

// Node is a running member of a job. It implements Former: each Form runs
// a rendezvous and connects a ring over the agreed group, and aborts that
// ring as soon as membership sees a member of the group fail or leave, so a
// dead or frozen peer ends the group's collectives within the failure
// detector's delay (seconds), not the collective timeout.
//
// Threading: Form, Bus and Close may be called from different goroutines;
// Form calls must not overlap.
type Node struct {
	cfg NodeConfig
	dp  *ring.DataPlane
	mem *Membership
	log zerolog.Logger

	mu       sync.Mutex
	server   *bus.Server
	bus      *bus.Client
	busURL   string
	commands bus.CommandBox // the latest operator command not yet polled (rank 0)
	rank     int
	world    int
	// Scale-up: when rank 0 last looked for waiting members, and when it
	// last asked for a regroup to admit them.
	lastLook, lastRegroup time.Time
}

// Scale-up pacing: look for waiting members at most once a second, and
// regroup for them at most once every scaleUpEvery (a member that keeps
// being left out must not make the job regroup on every step).
const (
	scaleUpLook  = time.Second
	scaleUpEvery = 30 * time.Second
)

// StartNode opens the data plane and joins the job's membership.
func StartNode(ctx context.Context, cfg NodeConfig) (*Node, error) {
	if cfg.Member.Job == "" {
		return nil, errors.New("node: no job id")
	}
	if err := bus.ValidateJobName(cfg.Member.Job); err != nil {
		return nil, err
	}
	dataAddr := cfg.DataAddr
	if dataAddr == "" {
		dataAddr = net.JoinHostPort(cfg.Member.Host, "0")
	}
	if err := checkExposure(cfg, dataAddr); err != nil {
		return nil, err
	}
	dp, err := ring.ListenDataPlane(dataAddr)
	if err != nil {
		return nil, fmt.Errorf("data plane: %w", err)
	}
	dp.SetLogger(cfg.Log)
	if len(cfg.DataKey) > 0 {
		dp.SetKey(cfg.DataKey)
	}
	m := cfg.Member
	m.DataAddr = advertised(dp.Addr(), m.Host)
	mem, err := Join(ctx, MembershipConfig{Member: m, BindAddr: cfg.GossipAddr, AdvertiseAddr: cfg.AdvertiseAddr,
		Seeds: cfg.Seeds, JoinTimeout: cfg.JoinTimeout, SecretKey: cfg.SecretKey, Timing: cfg.Timing, Log: cfg.Log})
	if err != nil {
		dp.Close()
		return nil, err
	}
	n := &Node{cfg: cfg, dp: dp, mem: mem, log: cfg.Log.With().Str("node", mem.Self().Name).Logger(), rank: -1}
	n.log.Info().Str("gossip", mem.Addr()).Str("data", m.DataAddr).Msg("joined")
	return n, nil
}

// advertised replaces an unspecified bind host (0.0.0.0, ::) by host.
func advertised(addr, host string) string {
	h, p, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return addr
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsUnspecified() {
		return net.JoinHostPort(host, p)
	}
	return addr
}

// Membership returns the node's membership.
func (n *Node) Membership() *Membership { return n.mem }

// Bus returns the control bus client, or nil when there is none (disabled,
// not yet connected, or unreachable).
func (n *Node) Bus() *bus.Client {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.bus
}

// PollCommand returns and clears the latest authenticated operator command
// ("checkpoint", "stop" or ""). Otherwise, on rank 0 of a group below the
// job's maximum size, it answers "regroup" when members wait to join, so
// the trainer checkpoints and the next group admits them.
func (n *Node) PollCommand() string {
	if c := n.commands.Take(); c != "" {
		return c
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	maxWorld := n.cfg.Rendezvous.Max
	if maxWorld <= 0 {
		maxWorld = max(n.cfg.Rendezvous.Min, 1)
	}
	now := time.Now()
	if n.rank != 0 || n.world >= maxWorld || now.Sub(n.lastLook) < scaleUpLook ||
		(!n.lastRegroup.IsZero() && now.Sub(n.lastRegroup) < scaleUpEvery) {
		return ""
	}
	n.lastLook = now
	if w := n.mem.Waiting(); len(w) > 0 {
		n.lastRegroup = now
		n.log.Info().Int("waiting", len(w)).Int("world", n.world).Int("max", maxWorld).Msg("members wait to join: regrouping after this step")
		return "regroup"
	}
	return ""
}

// formAttempts bounds how often Form retries after a group's ring could
// not be connected (a member died between rendezvous and connecting).
const formAttempts = 5

// Form implements Former.
func (n *Node) Form(ctx context.Context) (*Session, error) {
	var last error
	for attempt := 0; attempt < formAttempts; attempt++ {
		s, err := n.formOnce(ctx)
		if err == nil || ctx.Err() != nil || errors.Is(err, ErrTooFewMembers) {
			return s, err
		}
		last = err
		n.log.Warn().Err(err).Int("attempt", attempt+1).Msg("group not connected; rendezvous again")
	}
	return nil, fmt.Errorf("no connected group after %d attempts: %w", formAttempts, last)
}

func (n *Node) formOnce(ctx context.Context) (*Session, error) {
	rc := n.cfg.Rendezvous
	if n.cfg.NATSURL == "" && !n.cfg.NoBus {
		rc.OnCoordinator = n.ensureBusServer
	}
	g, err := n.mem.Rendezvous(ctx, rc)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err // our caller gave up, not the rendezvous
		}
		// The rendezvous timed out (its own deadline) or failed: a retry
		// would only wait as long again.
		return nil, fmt.Errorf("%w: %w", ErrTooFewMembers, err)
	}
	formed := time.Now()
	n.mu.Lock()
	n.rank, n.world = g.Rank, g.Size()
	n.mu.Unlock()
	log := n.log.With().Uint64("generation", g.Generation).Int("rank", g.Rank).Int("world", g.Size()).Logger()
	if g.Rank != 0 {
		n.stopBusServer() // started as coordinator, then someone sorting first arrived
	}
	n.connectBus(ctx, g, log)

	// A member lost while the ring connects cancels the connecting; once
	// connected, it aborts the ring.
	buildCtx, cancelBuild := context.WithCancelCause(ctx)
	defer cancelBuild(nil)
	w := &groupWatch{cancelBuild: cancelBuild}
	stop := make(chan struct{})
	done := make(chan struct{})
	go n.watch(g, w, formed, stop, done, log)
	comm, control, err := n.connectRings(buildCtx, g, log)
	if err != nil {
		close(stop)
		<-done
		if cause := context.Cause(buildCtx); cause != nil && ctx.Err() == nil {
			err = cause
		}
		return nil, fmt.Errorf("connecting the rings of generation %d: %w", g.Generation, err)
	}
	w.setComms(comm, control)
	var once sync.Once
	checked := comm
	if n.cfg.GradientComm == nil { // GradientComm's communicator checks on the control ring itself
		checked = collective.WithDesyncCheck(comm, nil)
	}
	return &Session{Group: g, Comm: checked, Control: collective.WithDesyncCheck(control, nil),
		Close: func() {
			once.Do(func() {
				close(stop)
				<-done
				comm.Close()
				control.Close()
			})
		}}, nil
}

// connectRings connects the group's gradient ring and its control ring
// (channel "control") over the node's data plane, or, with GradientComm,
// the control ring and then the gradient communicator it makes. Every
// member connects them in this order.
func (n *Node) connectRings(ctx context.Context, g *Group, log zerolog.Logger) (grads, control collective.Comm, err error) {
	cfg := ring.Config{Job: g.Job, Generation: g.Generation, Rank: g.Rank,
		Addrs: g.DataAddrs(), Timeout: n.cfg.CollectiveTimeout, ChunkBytes: n.cfg.ChunkBytes, Log: log}
	if n.cfg.GradientComm != nil {
		cfg.Channel = "control"
		if control, err = ring.New(ctx, n.dp, cfg); err != nil {
			return nil, nil, fmt.Errorf("control ring: %w", err)
		}
		if grads, err = n.cfg.GradientComm(ctx, control); err != nil {
			control.Close()
			return nil, nil, fmt.Errorf("gradient communicator: %w", err)
		}
		return grads, control, nil
	}
	if grads, err = ring.New(ctx, n.dp, cfg); err != nil {
		return nil, nil, err
	}
	cfg.Channel = "control"
	if control, err = ring.New(ctx, n.dp, cfg); err != nil {
		grads.Close()
		return nil, nil, fmt.Errorf("control ring: %w", err)
	}
	return grads, control, nil
}

// groupWatch is what a lost member ends: the rings being connected, then
// the connected rings.
type groupWatch struct {
	mu          sync.Mutex
	comms       []collective.Comm
	cancelBuild context.CancelCauseFunc
	lost        error
}

func (w *groupWatch) setComms(cs ...collective.Comm) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.comms = cs
	if w.lost != nil {
		for _, c := range cs {
			c.Abort(w.lost)
		}
	}
}

func (w *groupWatch) memberLost(reason error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lost == nil {
		w.lost = reason
	}
	if w.comms == nil {
		w.cancelBuild(reason)
	}
	for _, c := range w.comms {
		c.Abort(reason)
	}
}

// watch reports a member of g failing or leaving after the group formed to
// w, and on the bus.
func (n *Node) watch(g *Group, w *groupWatch, formed time.Time, stop <-chan struct{}, done chan<- struct{}, log zerolog.Logger) {
	defer close(done)
	ranks := map[string]int{}
	for r, m := range g.Members {
		ranks[m.Name] = r
	}
	for {
		select {
		case <-stop:
			return
		case ev := <-n.mem.Events():
			r, ok := ranks[ev.Member.Name]
			if !ok || ev.Time.Before(formed) || (ev.Kind != MemberFailed && ev.Kind != MemberLeft) {
				continue
			}
			reason := fmt.Errorf("%w: rank %d (%s) %s", collective.ErrPeerLost, r, ev.Member.Slot(), ev.Kind)
			log.Warn().Int("peer", r).Str("member", ev.Member.Name).Str("what", ev.Kind.String()).Msg("group member lost: aborting the group's collectives")
			kind := bus.EventFail
			if ev.Kind == MemberLeft {
				kind = bus.EventLeave
			}
			if b := n.Bus(); b != nil && g.Rank == 0 {
				b.PublishEvent(bus.Event{Kind: kind, Rank: r, Generation: g.Generation, World: g.Size(), Reason: reason.Error(), Time: ev.Time})
			}
			w.memberLost(reason)
		}
	}
}

// ensureBusServer starts the embedded control bus (once) and returns its
// URL; the rendezvous hands it to every member.
func (n *Node) ensureBusServer(ctx context.Context) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.server != nil {
		return n.server.URLFor(n.cfg.Member.Host), nil
	}
	sc := n.cfg.BusServer
	sc.Log = n.cfg.Log
	if sc.Port == 0 {
		sc.Port = bus.DefaultPort
	}
	srv, err := bus.StartServer(sc)
	if err != nil && n.cfg.BusServer.Port == 0 {
		// Another job (or a previous rank 0 not yet gone) holds the default
		// port: any port works, the URL travels with the group.
		n.log.Warn().Err(err).Int("port", bus.DefaultPort).Msg("default control bus port busy; using a free port (pass --nats-url to fdsm watch)")
		sc.Port = -1
		srv, err = bus.StartServer(sc)
	}
	if err != nil {
		// Training does not need the bus: run without it.
		n.log.Warn().Err(err).Msg("control bus server not started; telemetry and commands disabled")
		return "", nil
	}
	n.server = srv
	return srv.URLFor(n.cfg.Member.Host), nil
}

func (n *Node) stopBusServer() {
	n.mu.Lock()
	srv := n.server
	n.server = nil
	n.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
	}
}

// connectBus connects (or moves) the bus client to the group's bus. A bus
// that cannot be reached is logged, never fatal.
func (n *Node) connectBus(ctx context.Context, g *Group, log zerolog.Logger) {
	if n.cfg.NoBus {
		return
	}
	url := n.cfg.NATSURL
	if url == "" {
		url = g.BusURL
	}
	if url == "" {
		return
	}
	n.mu.Lock()
	b, cur := n.bus, n.busURL
	n.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	switch {
	case b == nil:
		bc := n.cfg.Bus
		bc.URL, bc.Job, bc.Rank, bc.Log = url, g.Job, g.Rank, n.cfg.Log
		if bc.Name == "" {
			bc.Name = n.mem.Self().Name
		}
		nb, err := bus.Connect(cctx, bc)
		if err != nil {
			log.Warn().Err(err).Str("url", url).Msg("control bus unreachable; telemetry and commands disabled for this group")
			return
		}
		if err := nb.OnCommand(func(c bus.Command) {
			n.mu.Lock()
			lead := n.rank == 0
			n.mu.Unlock()
			if lead { // rank 0 decides; the step's all-reduce carries it to all
				n.commands.Put(c.Kind)
			}
		}); err != nil {
			log.Warn().Err(err).Msg("control bus: cannot subscribe to commands")
		}
		n.mu.Lock()
		n.bus, n.busURL = nb, url
		n.mu.Unlock()
		b = nb
	case cur != url:
		if err := b.Reconnect(cctx, url); err != nil {
			log.Warn().Err(err).Str("url", url).Msg("control bus moved but is unreachable")
		} else {
			n.mu.Lock()
			n.busURL = url
			n.mu.Unlock()
		}
	}
	b.SetRank(g.Rank)
}

// Close leaves the job (gracefully, so peers see a leave rather than a
// failure) and releases everything.
func (n *Node) Close() error {
	n.mu.Lock()
	b := n.bus
	n.bus = nil
	n.mu.Unlock()
	if b != nil {
		b.Close()
	}
	err := n.mem.Close()
	n.dp.Close()
	n.stopBusServer()
	return err
}

// checkExposure refuses gossip or a data plane that listens beyond loopback
// without the job's keys, unless the job is explicitly insecure: a stranger
// could otherwise join the membership, learn every worker's address and
// send gradients.
func checkExposure(cfg NodeConfig, dataAddr string) error {
	if cfg.Insecure {
		return nil
	}
	var open []string
	if !loopbackAddr(cfg.GossipAddr) && len(cfg.SecretKey) == 0 {
		open = append(open, "gossip on "+cfg.GossipAddr)
	}
	if !loopbackAddr(dataAddr) && len(cfg.DataKey) == 0 {
		open = append(open, "the data plane on "+dataAddr)
	}
	if len(open) == 0 {
		return nil
	}
	return fmt.Errorf("node: %s would be open to other machines without authentication: export the same %s on every node (fdsm launch makes one for a job on one node), or set %s=1 (fdsm launch --insecure) to run open",
		strings.Join(open, " and "), EnvJobSecret, bus.EnvInsecure)
}

// loopbackAddr reports whether host:port (or a bare host) listens on
// loopback only.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return isLoopbackHost(host)
}

// isLoopbackHost reports whether host (a name or an IP) is this machine's
// loopback only: localhost or a loopback address. (Package bus has the same
// check for its embedded server.)
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
