package ring

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/fdsm-go/fdsm/collective"

	"github.com/rs/zerolog"
)

// DataPlane is a process's one TCP listener for collective traffic. It
// outlives groups: after a failure the process builds a ring of a new
// generation on the same DataPlane, at the same address its peers already
// know.
//
// Every incoming connection starts with the acceptor's challenge (a nonce)
// and the dialer's hello, authenticated by a MAC with the job's key when
// one is set (SetKey), naming the job, generation,
// chunkWriter and receiver ranks and world size. The DataPlane hands the
// connection to the ring being built for that (job, generation, rank) and
// answers the dialer; it refuses a generation older than the newest one
// registered for the job (permanently: that group is gone) and answers "not
// ready" to one it does not know yet, which the dialer retries until its
// deadline.
//
// Threading: all methods are safe for concurrent use.
type DataPlane struct {
	ln net.Listener

	mu      sync.Mutex
	log     zerolog.Logger
	waiting map[ringKey]*ringSlot // rings registered, being built or running
	latest  map[string]uint64     // newest generation registered per job
	shaking map[net.Conn]struct{} // connections in their handshake
	closed  bool
	key     []byte // the job's data-plane key; nil: connections are not authenticated

	wg sync.WaitGroup // accept loop and handshakes
}

// ringKey names the receiving end of one ring connection.
type ringKey struct {
	job  string
	gen  uint64
	rank int
}

// ringSlot is a ring's registration: where its predecessor's connection goes.
type ringSlot struct {
	world     int
	conn      chan net.Conn // capacity 1; receives the accepted connection
	delivered bool
	log       zerolog.Logger
}

// handshakeTimeout bounds reading a hello from a new connection, so that a
// stray client cannot hold a handshake goroutine forever.
const handshakeTimeout = 10 * time.Second

// ListenDataPlane listens for collective traffic on addr (host:port; port 0
// picks a free port). Close it when the process stops taking part in groups.
func ListenDataPlane(addr string) (*DataPlane, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("data plane: listen on %s: %w", addr, err)
	}
	dp := &DataPlane{
		ln:      ln,
		log:     zerolog.Nop(),
		waiting: make(map[ringKey]*ringSlot),
		latest:  make(map[string]uint64),
		shaking: make(map[net.Conn]struct{}),
	}
	dp.wg.Add(1)
	go dp.acceptLoop()
	return dp, nil
}

// SetLogger sets where the DataPlane logs refused connections that no ring
// of the job is registered to log (the default discards them).
func (dp *DataPlane) SetLogger(log zerolog.Logger) {
	dp.mu.Lock()
	dp.log = log
	dp.mu.Unlock()
}

// Addr returns the address the DataPlane listens on (with the chosen port).
func (dp *DataPlane) Addr() string { return dp.ln.Addr().String() }

// Close stops accepting connections and ends pending handshakes. Rings
// built on the DataPlane keep their established connections; close them
// separately.
func (dp *DataPlane) Close() error {
	dp.mu.Lock()
	dp.closed = true
	for c := range dp.shaking {
		c.Close()
	}
	dp.mu.Unlock()
	err := dp.ln.Close()
	dp.wg.Wait()
	return err
}

func (dp *DataPlane) acceptLoop() {
	defer dp.wg.Done()
	for {
		conn, err := dp.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary failures (too many open files): back off briefly.
			log := dp.logger("")
			log.Warn().Err(err).Msg("data plane: accept failed")
			time.Sleep(50 * time.Millisecond)
			continue
		}
		dp.mu.Lock()
		if dp.closed {
			dp.mu.Unlock()
			conn.Close()
			return
		}
		dp.shaking[conn] = struct{}{}
		dp.wg.Add(1)
		dp.mu.Unlock()
		go func() {
			defer dp.wg.Done()
			dp.handshake(conn)
			dp.mu.Lock()
			delete(dp.shaking, conn)
			dp.mu.Unlock()
		}()
	}
}

// logger returns the logger of the newest ring registered for job, or the
// DataPlane's own.
func (dp *DataPlane) logger(job string) zerolog.Logger {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	var best *ringSlot
	var bestGen uint64
	for k, s := range dp.waiting {
		if k.job == job && (best == nil || k.gen > bestGen) {
			best, bestGen = s, k.gen
		}
	}
	if best != nil {
		return best.log
	}
	return dp.log
}

// SetKey makes the data plane accept only connections whose hello carries
// a MAC made with key (DataKey derives it from the job secret), and makes
// this process's rings prove it when they dial. Call it before building
// rings.
func (dp *DataPlane) SetKey(key []byte) {
	dp.mu.Lock()
	dp.key = append([]byte(nil), key...)
	dp.mu.Unlock()
}

func (dp *DataPlane) dataKey() []byte {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	return dp.key
}

// handshake challenges conn, reads its hello, answers it and hands conn to
// its ring, or closes it.
func (dp *DataPlane) handshake(conn net.Conn) {
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	nonce, err := writeChallenge(conn)
	if err != nil {
		conn.Close()
		return
	}
	h, err := readHello(conn, dp.dataKey(), nonce)
	if err != nil {
		log := dp.logger(h.job)
		msg := "data plane: refused a connection with a bad hello"
		if errors.Is(err, errBadMAC) {
			msg = "data plane: refused a connection that is not of this job"
		}
		log.Warn().Err(err).Str("from", conn.RemoteAddr().String()).Msg(msg)
		_ = writeReply(conn, replyRefused, err.Error())
		conn.Close()
		return
	}
	code, msg, slot := dp.route(h)
	if code != replyOK {
		log := dp.logger(h.job)
		ev := log.Warn()
		if code == replyNotReady {
			// Normal while ranks arrive at different times: the dialer retries.
			ev = log.Debug()
		}
		ev.Str("job", h.job).Uint64("generation", h.gen).Int("from_rank", h.from).
			Int("to_rank", h.to).Str("remote", conn.RemoteAddr().String()).
			Msg("data plane: refused a connection: " + msg)
		_ = writeReply(conn, code, msg)
		conn.Close()
		return
	}
	if err := writeReply(conn, replyOK, ""); err != nil {
		// The dialer gave up; it will redial and find the slot delivered.
		conn.Close()
		dp.mu.Lock()
		slot.delivered = false
		dp.mu.Unlock()
		return
	}
	_ = conn.SetDeadline(time.Time{})
	slot.conn <- conn // capacity 1, delivered once: never blocks
}

// route decides what to do with a hello: hand it to a registered ring
// (replyOK with its slot marked delivered) or refuse it with a reason.
func (dp *DataPlane) route(h ringHello) (code byte, msg string, slot *ringSlot) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	if dp.closed {
		return replyRefused, "data plane is closing", nil
	}
	s, ok := dp.waiting[ringKey{h.job, h.gen, h.to}]
	switch {
	case !ok && h.gen < dp.latest[h.job]:
		return replyStale, fmt.Sprintf("stale generation %d: this process is at generation %d of job %s",
			h.gen, dp.latest[h.job], h.job), nil
	case !ok:
		return replyNotReady, fmt.Sprintf("no ring of job %s generation %d rank %d registered yet",
			h.job, h.gen, h.to), nil
	case s.world != h.world:
		return replyRefused, fmt.Sprintf("world size %d, but rank %d of generation %d has world size %d",
			h.world, h.to, h.gen, s.world), nil
	case h.from != (h.to+h.world-1)%h.world:
		return replyRefused, fmt.Sprintf("rank %d dialed rank %d, but a ring rank accepts only from rank %d",
			h.from, h.to, (h.to+h.world-1)%h.world), nil
	case s.delivered:
		return replyRefused, fmt.Sprintf("rank %d of generation %d is already connected to rank %d",
			h.to, h.gen, h.from), nil
	}
	s.delivered = true
	return replyOK, "", s
}

// register reserves the receiving end of (job, gen, rank) for a ring being
// built. Call unregister when the ring closes or fails to build.
func (dp *DataPlane) register(k ringKey, world int, log zerolog.Logger) (*ringSlot, error) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	if dp.closed {
		return nil, errors.New("data plane is closed")
	}
	if _, dup := dp.waiting[k]; dup {
		return nil, fmt.Errorf("a ring of job %s generation %d rank %d is already registered on this data plane",
			k.job, k.gen, k.rank)
	}
	s := &ringSlot{world: world, conn: make(chan net.Conn, 1), log: log}
	dp.waiting[k] = s
	if k.gen > dp.latest[k.job] {
		dp.latest[k.job] = k.gen
	}
	return s, nil
}

func (dp *DataPlane) unregister(k ringKey, s *ringSlot) {
	dp.mu.Lock()
	if dp.waiting[k] == s {
		delete(dp.waiting, k)
	}
	dp.mu.Unlock()
	// A connection delivered but never taken (the ring failed to build).
	select {
	case c := <-s.conn:
		c.Close()
	default:
	}
}

// dialRing connects to addr as rank h.from of the ring, retrying refused
// connections and "not ready" answers with backoff until the deadline.
func dialRing(ctx context.Context, addr string, h ringHello, key []byte, deadline time.Time) (net.Conn, error) {
	backoff := 10 * time.Millisecond
	var last error
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("dial rank %d at %s: %w", h.to, addr, err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("%w: rank %d at %s did not accept job %s generation %d after %d attempts: %v",
				collective.ErrTimeout, h.to, addr, h.job, h.gen, attempt, last)
		}
		conn, code, msg, err := dialOnce(ctx, addr, h, key, min(left, 5*time.Second))
		switch {
		case err != nil:
			last = err
		case code == replyOK:
			return conn, nil
		case code == replyNotReady:
			last = errors.New(msg)
		default:
			return nil, fmt.Errorf("rank %d at %s refused rank %d: %s", h.to, addr, h.from, msg)
		}
		wait := min(backoff, time.Until(deadline))
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// dialOnce makes one connection attempt and returns the acceptor's answer.
// The connection is returned only with replyOK.
func dialOnce(ctx context.Context, addr string, h ringHello, key []byte, timeout time.Duration) (net.Conn, byte, string, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, 0, "", err
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	nonce, err := readChallenge(conn)
	if err != nil {
		conn.Close()
		return nil, 0, "", err
	}
	if err := writeHello(conn, h, key, nonce); err != nil {
		conn.Close()
		return nil, 0, "", err
	}
	code, msg, err := readReply(conn)
	if err != nil || code != replyOK {
		conn.Close()
		return nil, code, msg, err
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, code, msg, nil
}
