package nccl

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fdsm-go/fdsm/collective"
)

// Poll intervals: short at first, since most collectives finish in well
// under a millisecond to a few ms, then capped so a long wait costs little
// CPU and a failure is still seen within 10 ms.
const (
	firstPoll = time.Millisecond
	maxPoll   = 10 * time.Millisecond
)

// nextPoll grows the interval by half, up to maxPoll.
func nextPoll(d time.Duration) time.Duration {
	return min(d+d/2, maxPoll)
}

// Wait returns once the work enqueued so far is complete: isDone (the
// caller's completion probe, e.g. a query of the collectives' stream)
// reports true while NCCL's asynchronous state is ncclSuccess. It polls both
// about every millisecond at first, backing off to every 10 ms. When the
// Comm's timeout or ctx ends first, NCCL reports an error, or isDone fails,
// Wait aborts the communicator and returns the error (wrapping
// collective.ErrTimeout or collective.ErrAborted, with NCCL's words).
func (c *Comm) Wait(ctx context.Context, isDone func() (bool, error)) error {
	if isDone == nil {
		return c.fail(c.aborted("Wait", errors.New("nil completion probe")))
	}
	return c.watch(ctx, "Wait", isDone)
}

// watch is the watchdog loop behind InitRank, a pending enqueue, Wait and
// Close: it polls ncclCommGetAsyncError (and isDone, when not nil, once NCCL
// is no longer in progress) until both report completion, the communicator
// breaks, or time runs out.
func (c *Comm) watch(ctx context.Context, what string, isDone func() (bool, error)) error {
	deadline := time.Now().Add(c.timeout)
	delay := firstPoll
	for {
		state, err := c.pollAsync(what)
		if err != nil {
			return err
		}
		if state == Success {
			done := true
			if isDone != nil {
				if done, err = isDone(); err != nil {
					return c.fail(c.aborted(what, fmt.Errorf("completion probe: %w", err)))
				}
			}
			if done {
				return nil
			}
		}
		if err := c.expired(ctx, what, deadline); err != nil {
			return c.fail(err)
		}
		sleep(ctx, min(delay, time.Until(deadline)))
		delay = nextPoll(delay)
	}
}

// pollAsync reads the communicator's asynchronous state; any state other
// than ncclSuccess or ncclInProgress breaks the communicator.
func (c *Comm) pollAsync(what string) (Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	state, r := c.lib.asyncError(c.handle)
	if r != Success {
		state = r // the query itself failed
	}
	if state != Success && state != InProgress {
		err := callError(c.lib, "ncclCommGetAsyncError", state, c.handle)
		return 0, c.failLocked(c.aborted(what, err))
	}
	return state, nil
}

// expired returns the error to break the communicator with once ctx or
// the Comm's timeout has ended, else nil.
func (c *Comm) expired(ctx context.Context, what string, deadline time.Time) error {
	switch err := ctx.Err(); {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("nccl rank %d: %s: %w: the context's deadline passed (%w); communicator aborted",
			c.rank, what, collective.ErrTimeout, err)
	case err != nil:
		return c.aborted(what, err)
	case !time.Now().Before(deadline):
		return fmt.Errorf("nccl rank %d: %s: %w after %v; communicator aborted",
			c.rank, what, collective.ErrTimeout, c.timeout)
	}
	return nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
