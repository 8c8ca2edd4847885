package nccl

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fdsm-go/fdsm/collective"
)

// Comm is one rank's NCCL communicator, created non-blocking (blocking = 0)
// so that no NCCL call waits on peers: collectives return once enqueued on
// the caller's stream and Wait observes completion.
//
// Threading. NCCL forbids two threads operating one communicator at once
// (user guide, "Thread Safety"), and its documents do not promise that
// ncclCommAbort may overlap another call on the same communicator, so Comm
// serializes every NCCL call, ncclCommAbort included, with a mutex. As the
// communicator is non-blocking each call holds the mutex briefly, so Abort
// from any goroutine takes effect within one call. Issue collectives, Wait
// and Close from one goroutine at a time, in the same order on every rank;
// Rank, Size, Err and Abort are safe from any goroutine at any time.
//
// CUDA: NCCL binds the communicator to the device current on the calling
// OS thread at InitRank and expects it current for later calls; arranging
// that (a locked OS thread) is the caller's job.
//
// After any error the communicator is aborted and every later call returns
// the first error (see Err); create a new one to continue.
type Comm struct {
	lib     library
	rank    int
	nranks  int
	timeout time.Duration

	mu     sync.Mutex
	handle uintptr // ncclComm_t; 0 once aborted or destroyed
	err    error   // the first error
}

// NewUniqueID makes the ID that every rank passes to InitRank. Call it on
// one rank and send the bytes to the others.
func NewUniqueID() (UniqueID, error) {
	lib, err := defaultLibrary()
	if err != nil {
		return UniqueID{}, err
	}
	return uniqueID(lib)
}

func uniqueID(lib library) (UniqueID, error) {
	id, r := lib.getUniqueID()
	if r != Success {
		return UniqueID{}, callError(lib, "ncclGetUniqueId", r, 0)
	}
	return id, nil
}

// InitRank joins communicator id as rank of nranks. It returns when every
// rank has joined, or fails (aborting what it started) when timeout or ctx
// ends first. timeout (collective.DefaultTimeout if <= 0) also bounds each
// later collective's enqueue and each Wait.
func InitRank(ctx context.Context, id UniqueID, nranks, rank int, timeout time.Duration) (*Comm, error) {
	lib, err := defaultLibrary()
	if err != nil {
		return nil, err
	}
	return initRank(ctx, lib, id, nranks, rank, timeout)
}

func initRank(ctx context.Context, lib library, id UniqueID, nranks, rank int, timeout time.Duration) (*Comm, error) {
	if nranks < 1 || rank < 0 || rank >= nranks {
		return nil, fmt.Errorf("nccl: rank %d out of range for %d ranks", rank, nranks)
	}
	if timeout <= 0 {
		timeout = collective.DefaultTimeout
	}
	c := &Comm{lib: lib, rank: rank, nranks: nranks, timeout: timeout}
	h, r := lib.initRank(id, nranks, rank)
	c.mu.Lock()
	c.handle = h
	if r != Success && r != InProgress {
		err := c.failLocked(callError(lib, "ncclCommInitRankConfig", r, h))
		c.mu.Unlock()
		return nil, err
	}
	c.mu.Unlock()
	if err := c.watch(ctx, "InitRank", nil); err != nil {
		return nil, err
	}
	return c, nil
}

// Rank returns this member's rank.
func (c *Comm) Rank() int { return c.rank }

// Size returns the number of ranks.
func (c *Comm) Size() int { return c.nranks }

// Err returns the error that broke the communicator, or nil.
func (c *Comm) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Abort breaks the communicator with reason: it calls ncclCommAbort (once,
// however often Abort is called) and every later call returns the first
// error, which wraps collective.ErrAborted.
func (c *Comm) Abort(reason error) {
	if reason == nil {
		reason = errors.New("no reason given")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failLocked(c.aborted("Abort", reason))
}

// Close finalizes the communicator (flushing enqueued work, which peers
// must finalize too) and destroys it; past the timeout it aborts instead.
// After Close every call fails. Closing a broken Comm does nothing.
func (c *Comm) Close() error {
	c.mu.Lock()
	if c.handle == 0 {
		c.mu.Unlock()
		return nil
	}
	if r := c.lib.finalize(c.handle); r != Success && r != InProgress {
		err := c.failLocked(c.aborted("Close", callError(c.lib, "ncclCommFinalize", r, c.handle)))
		c.mu.Unlock()
		return err
	}
	c.mu.Unlock()
	if err := c.watch(context.Background(), "Close", nil); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.handle == 0 { // aborted meanwhile
		return c.err
	}
	r := c.lib.destroy(c.handle)
	c.handle = 0
	if c.err == nil {
		c.err = c.aborted("Close", errors.New("communicator closed"))
	}
	if r != Success && r != InProgress { // InProgress: freed in the background
		return callError(c.lib, "ncclCommDestroy", r, 0)
	}
	return nil
}

// failLocked keeps err unless an error came first, aborts the NCCL
// communicator if it is still live, and returns the first error. c.mu must
// be held.
func (c *Comm) failLocked(err error) error {
	if c.err == nil {
		c.err = err
	}
	if c.handle != 0 {
		// The result is moot: the handle is gone either way, and a
		// non-blocking abort finishes in NCCL's background thread.
		c.lib.abort(c.handle)
		c.handle = 0
	}
	return c.err
}

// fail is failLocked for callers that do not hold c.mu.
func (c *Comm) fail(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failLocked(err)
}

// aborted wraps cause as the error of an aborted communicator.
func (c *Comm) aborted(what string, cause error) error {
	return fmt.Errorf("nccl rank %d: %s: %w: %w", c.rank, what, collective.ErrAborted, cause)
}
