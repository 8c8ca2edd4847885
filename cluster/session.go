package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/fdsm-go/fdsm/collective"
)

// Session is one generation of a group as a member sees it: the agreed
// group, its connected communicators, and a way to leave it. A Session ends
// (its communicators are aborted) when any member of the group fails or
// leaves. Both communicators check for desyncs (collective.WithDesyncCheck).
type Session struct {
	Group *Group
	// Comm carries gradients: the TCP ring on CPUs.
	Comm collective.Comm
	// Control carries control messages on host memory: a ring of its own.
	Control collective.Comm
	// Close releases the session (closes the communicators, stops failure
	// watching).
	Close func()
}

// Former forms groups: Form blocks until the members present agree on a
// group (a rendezvous) and the group's communicator is connected, or fails
// after its timeout with fewer members than the minimum. Each call yields a
// higher generation. Implementations: Node (memberlist + TCP ring) and
// LocalCohort (in memory, for tests).
type Former interface {
	Form(ctx context.Context) (*Session, error)
}

// ErrTooFewMembers: a rendezvous timed out below the minimum world size.
var ErrTooFewMembers = errors.New("too few members")

// LocalCohort forms groups of in-process members over memory
// communicators: each member calls Form from its own goroutine (through
// Member(i)); a group forms once at least Min members wait and either Max
// wait or LastCall has passed since the Min-th arrived. Kill simulates the
// death of a member: its current session's communicator is aborted on every
// rank, as failure detection does in a real cluster.
type LocalCohort struct {
	Min, Max int
	LastCall time.Duration
	Timeout  time.Duration // rendezvous timeout (0: 30 s)

	mu      sync.Mutex
	cond    *sync.Cond
	waiting map[int]bool
	gen     uint64
	formed  map[int]*Session // sessions handed out in the latest round, by member id
	firstAt time.Time
	dead    map[int]bool
}

// NewLocalCohort returns a cohort for worlds of min..max members.
func NewLocalCohort(min, max int, lastCall time.Duration) *LocalCohort {
	c := &LocalCohort{Min: min, Max: max, LastCall: lastCall, waiting: map[int]bool{}, formed: map[int]*Session{}, dead: map[int]bool{}}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// Member returns the Former of member id (ids order ranks).
func (c *LocalCohort) Member(id int) Former { return localMember{c, id} }

type localMember struct {
	c  *LocalCohort
	id int
}

func (m localMember) Form(ctx context.Context) (*Session, error) { return m.c.form(ctx, m.id) }

// Kill marks member id dead and aborts the communicator of its session.
// Its own later Form calls fail.
func (c *LocalCohort) Kill(id int) {
	c.mu.Lock()
	c.dead[id] = true
	s := c.formed[id]
	delete(c.waiting, id)
	c.mu.Unlock()
	if s != nil {
		s.Comm.Abort(fmt.Errorf("member %d failed", id))
	}
	c.cond.Broadcast()
}

func (c *LocalCohort) form(ctx context.Context, id int) (*Session, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	deadline := time.Now().Add(timeout)
	stop := context.AfterFunc(ctx, c.cond.Broadcast)
	defer stop()
	done := make(chan struct{})
	defer close(done)
	go func() { // re-checks the last call and the timeout
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				c.cond.Broadcast()
			}
		}
	}()

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead[id] {
		return nil, fmt.Errorf("member %d is dead", id)
	}
	gen := c.gen
	c.waiting[id] = true
	if len(c.waiting) == c.Min {
		c.firstAt = time.Now()
	}
	for c.gen == gen {
		n := len(c.waiting)
		if n >= c.Min && (n >= c.Max || time.Since(c.firstAt) >= c.LastCall) {
			c.formLocked()
			break
		}
		if ctx.Err() != nil {
			delete(c.waiting, id)
			return nil, ctx.Err()
		}
		if time.Now().After(deadline) {
			delete(c.waiting, id)
			return nil, fmt.Errorf("rendezvous: %w: %d of at least %d members after %v", ErrTooFewMembers, n, c.Min, timeout)
		}
		if c.dead[id] {
			return nil, fmt.Errorf("member %d is dead", id)
		}
		c.cond.Wait()
	}
	s, ok := c.formed[id]
	if !ok {
		return nil, fmt.Errorf("member %d was not admitted to generation %d", id, c.gen)
	}
	return s, nil
}

// formLocked makes a group of every waiting member.
func (c *LocalCohort) formLocked() {
	ids := make([]int, 0, len(c.waiting))
	for id := range c.waiting {
		ids = append(ids, id)
	}
	sortInts(ids)
	if len(ids) > c.Max {
		ids = ids[:c.Max]
	}
	c.gen++
	comms := collective.NewLocalComms(len(ids), 0)
	controls := collective.NewLocalComms(len(ids), 0)
	g := &Group{Job: "local", Generation: c.gen}
	for _, id := range ids {
		g.Members = append(g.Members, Member{Name: fmt.Sprintf("local/%d", id), Job: "local", LocalRank: id})
	}
	c.formed = map[int]*Session{}
	for r, id := range ids {
		gr := *g
		gr.Rank = r
		comm, control := comms[r], controls[r]
		c.formed[id] = &Session{Group: &gr, Comm: collective.WithDesyncCheck(comm, nil), Control: collective.WithDesyncCheck(control, nil),
			Close: func() { comm.Close(); control.Close() }}
		delete(c.waiting, id)
	}
	c.cond.Broadcast()
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}
