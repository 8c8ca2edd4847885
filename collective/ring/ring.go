package ring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/fdsm-go/fdsm/collective"

	"github.com/rs/zerolog"
)

// DefaultChunkBytes is the ring's default pipelining unit: each segment of a
// collective streams in chunks of this size, so a rank forwards chunk c
// while chunk c+1 is still arriving. Chosen by measurement on loopback
// (docs/benchmarks.md): CPU time per byte sent fell by about 10% from 256 KiB
// to 1 MiB chunks and little beyond, while larger chunks lengthen the
// pipeline's fill and drain. TCP buffers are left to the kernel's
// autotuning, which measured as well as or better than fixed sizes.
const DefaultChunkBytes = 1 << 20

// Config describes this process's place in a TCP ring.
type Config struct {
	Job        string
	Generation uint64 // grows with every regroup; connections of other generations are refused
	// Channel names one of several rings a group builds over the same data
	// planes (the gradient ring and the control ring): connections of one
	// channel never reach another's ring. Empty is a channel too.
	Channel string
	Rank    int      // this process's rank, an index into Addrs
	Addrs   []string // data-plane addresses of all ranks, in rank order
	// Timeout bounds every collective and building the ring; 0 means
	// DefaultTimeout. A context deadline, when sooner, wins.
	Timeout time.Duration
	// ChunkBytes is the pipelining unit; 0 means DefaultChunkBytes.
	ChunkBytes int
	Log        zerolog.Logger
}

// ring is the TCP ring Comm: rank r sends to r+1 and receives from r-1.
// Data flows one way only; the reverse direction of each connection carries
// abort frames back to the predecessor.
//
// Threading: collectives run on the caller's goroutine plus one writer
// goroutine per collective. A watcher goroutine reads abort frames from the
// successor for the ring's whole life. fail, Abort, Err, Rank and Size are
// safe from any goroutine.
type ring struct {
	rank, size int
	next, prev int
	timeout    time.Duration
	chunk      int // bytes, > 0
	log        zerolog.Logger

	dp   *DataPlane
	key  ringKey
	slot *ringSlot

	send net.Conn // to next; nil when size is 1
	recv net.Conn // from prev

	seq     uint64 // last collective's sequence number (collective goroutine only)
	scratch []byte // receive buffer for reductions (collective goroutine only)
	hdr     [opHeaderLen]byte
	// ctxDeadline: the running collective's deadline is its context's, so
	// a timeout also wraps context.DeadlineExceeded. Set before the writer
	// starts; read by the collective goroutine and its writer.
	ctxDeadline bool

	mu    sync.Mutex
	cause error // first failure; nil while healthy
	peer  int   // the peer the first failure involves, or -1
	// notice: the successor closed its communicator or its connection
	// (see watch). It fails the next collective, not the running one,
	// which may still complete on data already sent.
	notice     error
	noticePeer int
	closed     bool
	failOnce   sync.Once
	watcher    sync.WaitGroup
}

// New connects this process into the ring described by cfg, dialing
// rank+1 and accepting rank-1 through dp, and returns its Comm. It fails
// after cfg.Timeout (or ctx's deadline) if a neighbour does not appear. A
// ring of size 1 needs no connections.
func New(ctx context.Context, dp *DataPlane, cfg Config) (collective.Comm, error) {
	n := len(cfg.Addrs)
	if n < 1 || cfg.Rank < 0 || cfg.Rank >= n {
		return nil, fmt.Errorf("ring: rank %d outside a world of %d addresses", cfg.Rank, n)
	}
	cfg = cfg.withDefaults()
	r := newRing(dp, cfg)
	if n == 1 {
		return r, nil
	}
	if dp == nil {
		return nil, errors.New("ring: nil data plane")
	}
	slot, err := dp.register(r.key, n, r.log)
	if err != nil {
		return nil, fmt.Errorf("ring: %w", err)
	}
	r.slot = slot
	deadline, _ := deadlineOf(ctx, cfg.Timeout)
	if err := r.connect(ctx, cfg.Addrs[r.next], deadline); err != nil {
		dp.unregister(r.key, slot)
		return nil, fmt.Errorf("ring: rank %d of job %s generation %d: %w", r.rank, r.key.job, cfg.Generation, err)
	}
	r.watcher.Add(1)
	go r.watch()
	r.log.Debug().Int("next", r.next).Int("prev", r.prev).Msg("ring connected")
	return r, nil
}

// withDefaults returns cfg with its zero Timeout and ChunkBytes defaulted.
func (cfg Config) withDefaults() Config {
	if cfg.Timeout <= 0 {
		cfg.Timeout = collective.DefaultTimeout
	}
	if cfg.ChunkBytes <= 0 {
		cfg.ChunkBytes = DefaultChunkBytes
	}
	// Keep chunks whole float64s so float32 and float64 split alike.
	cfg.ChunkBytes = max(8, cfg.ChunkBytes&^7)
	return cfg
}

// newRing returns the unconnected ring that cfg (with its defaults)
// describes.
func newRing(dp *DataPlane, cfg Config) *ring {
	n := len(cfg.Addrs)
	// The channel is part of the key's job, so that rings of different
	// channels never meet on a data plane.
	job := cfg.Job
	if cfg.Channel != "" {
		job += "/" + cfg.Channel
	}
	return &ring{
		rank: cfg.Rank, size: n,
		next: (cfg.Rank + 1) % n, prev: (cfg.Rank + n - 1) % n,
		timeout: cfg.Timeout, chunk: cfg.ChunkBytes,
		log:  cfg.Log.With().Str("job", cfg.Job).Str("channel", cfg.Channel).Uint64("generation", cfg.Generation).Int("rank", cfg.Rank).Logger(),
		dp:   dp,
		key:  ringKey{job, cfg.Generation, cfg.Rank},
		peer: -1,
	}
}

// deadlineOf returns when work bounded by timeout and by ctx must end, and
// whether ctx's deadline, being sooner, is the one that decides.
func deadlineOf(ctx context.Context, timeout time.Duration) (deadline time.Time, fromCtx bool) {
	deadline = time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		return d, true
	}
	return deadline, false
}

// dialResult is the outcome of dialing the successor.
type dialResult struct {
	conn net.Conn
	err  error
}

// connect dials the successor at addr while accepting the predecessor
// through r.slot, until deadline or until ctx ends, and sets r.send and
// r.recv. On failure it closes whichever connections it got; the slot stays
// registered (New unregisters it). It runs on New's goroutine before the
// watcher starts; the dial goroutine reads only fields fixed by newRing.
func (r *ring) connect(ctx context.Context, addr string, deadline time.Time) error {
	dialCtx, cancelDial := context.WithCancel(ctx)
	defer cancelDial()
	dials := r.dialNext(dialCtx, addr, deadline)
	acceptErr, d := r.awaitNeighbours(ctx, dials, cancelDial, deadline)
	if acceptErr != nil || d.err != nil {
		if d.conn != nil {
			d.conn.Close()
		}
		if r.recv != nil {
			r.recv.Close()
		}
		return errors.Join(acceptErr, d.err)
	}
	r.send = d.conn
	return nil
}

// dialNext dials the successor on a goroutine of its own, which sends its
// one result on the returned channel (buffered, so the goroutine always
// ends) and exits.
func (r *ring) dialNext(ctx context.Context, addr string, deadline time.Time) <-chan dialResult {
	dials := make(chan dialResult, 1)
	go func() {
		h := ringHello{job: r.key.job, gen: r.key.gen, from: r.rank, to: r.next, world: r.size}
		c, err := dialRing(ctx, addr, h, r.dp.dataKey(), deadline)
		dials <- dialResult{c, err}
	}()
	return dials
}

// awaitNeighbours waits for both ends, the predecessor's connection (into
// r.recv) and the dial's result; the first failure of either ends the wait.
// It returns only once the dial has ended, cancelling it if need be, so that
// a connection it makes is never lost.
func (r *ring) awaitNeighbours(ctx context.Context, dials <-chan dialResult, cancelDial context.CancelFunc,
	deadline time.Time) (acceptErr error, d dialResult) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	gotDial := false
	for (r.recv == nil || !gotDial) && acceptErr == nil && d.err == nil {
		select {
		case r.recv = <-r.slot.conn:
		case d = <-dials:
			gotDial = true
		case <-timer.C:
			acceptErr = fmt.Errorf("%w: rank %d did not connect in time", collective.ErrTimeout, r.prev)
		case <-ctx.Done():
			acceptErr = fmt.Errorf("waiting for rank %d to connect: %w", r.prev, ctx.Err())
		}
	}
	if !gotDial {
		cancelDial()
		d = <-dials
	}
	if r.recv == nil && acceptErr == nil {
		acceptErr = fmt.Errorf("rank %d had not connected", r.prev)
	}
	return acceptErr, d
}

func (r *ring) Rank() int { return r.rank }
func (r *ring) Size() int { return r.size }

func (r *ring) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cause == nil {
		return r.notice
	}
	return r.cause
}

// broken returns the first failure and its peer, or nil.
func (r *ring) broken() (peer int, cause error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peer, r.cause
}

// fail records cause as the ring's failure if it is the first, tells the
// predecessor why (best effort), and closes both connections so that blocked
// reads and writes here return and both neighbours fail fast: the failure
// cascades around the ring.
func (r *ring) fail(cause error, peer int) {
	r.mu.Lock()
	first := r.cause == nil
	if first {
		if r.notice != nil && errors.Is(cause, collective.ErrPeerLost) {
			// A connection failed after its peer said why: say that.
			cause, peer = r.notice, r.noticePeer
		}
		r.cause, r.peer = cause, peer
	}
	r.mu.Unlock()
	if !first {
		return
	}
	r.failOnce.Do(func() {
		r.log.Debug().Err(cause).Int("peer", peer).Msg("ring broken")
		if r.recv == nil {
			return
		}
		// A broken ring takes no connections: its generation is over here.
		r.dp.unregister(r.key, r.slot)
		origin, reason, closing := r.rank, cause.Error(), false
		var remote *remoteAbortError
		var local *localAbortError
		switch {
		case errors.As(cause, &remote):
			origin, reason = remote.origin, remote.reason // pass the root cause along
		case errors.As(cause, &local):
			reason, closing = local.reason.Error(), local.closing
		}
		// Nothing else writes the reverse direction, and a small frame fits
		// in the socket buffer: this returns at once unless the peer is gone.
		_ = r.recv.SetWriteDeadline(time.Now().Add(time.Second))
		_ = writeAbort(r.recv, abortFrame{origin: origin, closing: closing, reason: reason})
		r.recv.Close()
		r.send.Close()
	})
}

// remoteAbortError is a failure that a peer reported through an abort frame.
type remoteAbortError struct {
	origin int
	reason string
}

func (e *remoteAbortError) Error() string {
	return fmt.Sprintf("communicator aborted by rank %d: %s", e.origin, e.reason)
}

func (e *remoteAbortError) Unwrap() error { return collective.ErrAborted }

// localAbortError is a failure that Abort was called with on this rank.
type localAbortError struct {
	rank    int
	reason  error
	closing bool // from Close: peers may finish the collective in progress
}

func (e *localAbortError) Error() string {
	return fmt.Sprintf("communicator aborted on rank %d: %v", e.rank, e.reason)
}

func (e *localAbortError) Unwrap() []error { return []error{collective.ErrAborted, e.reason} }

// watch reads abort frames from the successor for the ring's life. An abort,
// or the successor closing its end, breaks the ring even between
// collectives, so the next collective fails at once.
//
// A successor that closed its communicator (or whose connection ended) may
// have done so right after finishing the last collective, while this rank
// still reads that collective's final bytes. So that is only a notice, which
// fails the next collective; the running one fails by itself if it needed
// more from that rank. An abort breaks the ring at once.
func (r *ring) watch() {
	defer r.watcher.Done()
	for {
		f, err := readAbort(r.send)
		if err != nil {
			if _, c := r.broken(); c == nil {
				r.noticeFailure(r.ioError(err, r.next, false), r.next)
			}
			return
		}
		cause := &remoteAbortError{origin: f.origin, reason: f.reason}
		if !f.closing {
			r.fail(cause, r.next)
			return
		}
		r.noticeFailure(cause, r.next)
	}
}

func (r *ring) noticeFailure(cause error, peer int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.notice == nil {
		r.notice, r.noticePeer = cause, peer
	}
}

// pendingNotice returns the notice that should fail the next collective.
func (r *ring) pendingNotice() (peer int, notice error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.noticePeer, r.notice
}

// ioError classifies an I/O error with peer: a deadline is a timeout, the
// rest means the peer is gone. reading says which direction was blocked.
func (r *ring) ioError(err error, peer int, reading bool) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		what := fmt.Sprintf("rank %d took no data", peer)
		if reading {
			what = fmt.Sprintf("no data from rank %d", peer)
		}
		if r.ctxDeadline {
			return fmt.Errorf("%w: %s before the context's deadline: %w", collective.ErrTimeout, what, context.DeadlineExceeded)
		}
		return fmt.Errorf("%w: %s within the collective timeout of %v", collective.ErrTimeout, what, r.timeout)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: rank %d closed the connection (aborted or died)", collective.ErrPeerLost, peer)
	}
	return fmt.Errorf("%w: connection with rank %d failed (aborted or died): %v", collective.ErrPeerLost, peer, err)
}

// Abort breaks the ring with reason; see Comm.Abort.
func (r *ring) Abort(reason error) {
	if reason == nil {
		reason = errors.New("no reason given")
	}
	r.fail(&localAbortError{rank: r.rank, reason: reason}, -1)
}

// Close aborts the ring (peers see "rank r closed its communicator") and
// releases its connections and data-plane registration.
func (r *ring) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.fail(&localAbortError{rank: r.rank, reason: fmt.Errorf("rank %d closed its communicator", r.rank), closing: true}, -1)
	r.watcher.Wait()
	return nil
}
