package collective

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/fdsm-go/fdsm/tensor"
)

// NewLocalComms returns size communicators that talk through memory, one per
// rank, for tests and single-process simulations of a group. They follow the
// Comm contract (sequence and desync checks, timeout, abort) so that code
// tested against them behaves the same over the TCP ring. Buffers must be
// host tensors. Reductions add in rank order, so every rank gets bitwise the
// same result.
func NewLocalComms(size int, timeout time.Duration) []Comm {
	if size < 1 {
		panic(fmt.Sprintf("cluster: NewLocalComms size %d", size))
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	h := &localHub{size: size, timeout: timeout, slots: make([]localSlot, size)}
	h.cond = sync.NewCond(&h.mu)
	out := make([]Comm, size)
	for r := range out {
		out[r] = &localComm{hub: h, rank: r}
	}
	return out
}

type localSlot struct {
	desc   OpDesc
	send   *tensor.Tensor
	posted bool
}

// localHub runs each collective as two phases: every rank posts its buffer
// (phase 1), each rank computes its result from all posted buffers, then every
// rank confirms it is done reading (phase 2) before buffers may change.
type localHub struct {
	size    int
	timeout time.Duration

	mu      sync.Mutex
	cond    *sync.Cond
	slots   []localSlot
	arrived [2]int // ranks arrived at each phase of the current round
	round   [2]uint64
	err     error
}

type localComm struct {
	hub  *localHub
	rank int
	seq  uint64
}

func (c *localComm) Rank() int { return c.rank }
func (c *localComm) Size() int { return c.hub.size }

func (c *localComm) Err() error {
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	return c.hub.err
}

func (c *localComm) Abort(reason error) {
	h := c.hub
	h.mu.Lock()
	if h.err == nil {
		h.err = fmt.Errorf("rank %d: %w: %w", c.rank, ErrAborted, reason)
	}
	h.mu.Unlock()
	h.cond.Broadcast()
}

func (c *localComm) Close() error {
	c.Abort(fmt.Errorf("rank %d closed its communicator", c.rank))
	return nil
}

// wait blocks until every rank reached phase p of the current round.
func (c *localComm) wait(ctx context.Context, p int, desc OpDesc) error {
	h := c.hub
	deadline := time.Now().Add(h.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	wake := func() { h.mu.Lock(); h.cond.Broadcast(); h.mu.Unlock() } // under the lock: no lost wake-up
	stop := time.AfterFunc(time.Until(deadline), wake)
	defer stop.Stop()
	stopCtx := context.AfterFunc(ctx, wake)
	defer stopCtx()
	h.arrived[p]++
	my := h.round[p]
	if h.arrived[p] == h.size {
		h.arrived[p] = 0
		h.round[p]++
		h.cond.Broadcast()
		return nil
	}
	for h.round[p] == my {
		if h.err != nil {
			return &CollectiveError{Rank: c.rank, Op: desc, Peer: -1, Err: h.err}
		}
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			err := fmt.Errorf("%w after %v waiting for the other ranks", ErrTimeout, h.timeout)
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			if h.err == nil {
				h.err = fmt.Errorf("rank %d: %w: %v", c.rank, ErrAborted, err)
			}
			h.cond.Broadcast()
			return &CollectiveError{Rank: c.rank, Op: desc, Peer: -1, Err: err}
		}
		h.cond.Wait()
	}
	return nil
}

// run posts send under desc, waits for everyone, applies compute, and waits
// again so no rank changes its buffer while another still reads it.
func (c *localComm) run(ctx context.Context, desc OpDesc, send *tensor.Tensor, compute func(all []localSlot)) error {
	h := c.hub
	if send != nil && !send.IsHost() {
		return fmt.Errorf("cluster: local communicator needs host tensors")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return &CollectiveError{Rank: c.rank, Op: desc, Peer: -1, Err: h.err}
	}
	c.seq++
	h.slots[c.rank] = localSlot{desc: desc, send: send, posted: true}
	if err := c.wait(ctx, 0, desc); err != nil {
		return err
	}
	for r, s := range h.slots {
		if !s.desc.Matches(desc) {
			// Not a diagnosis (WithDesyncCheck gives one), only what keeps
			// the ranks from reading buffers of another shape.
			err := fmt.Errorf("%w: rank %d's call does not match rank %d's", ErrDesync, r, c.rank)
			if h.err == nil {
				h.err = err
			}
			h.cond.Broadcast()
			return &CollectiveError{Rank: c.rank, Op: desc, Peer: r, Err: err}
		}
	}
	// Snapshot is safe: nobody writes until phase 2 completes.
	all := append([]localSlot(nil), h.slots...)
	h.mu.Unlock()
	if compute != nil {
		compute(all)
	}
	h.mu.Lock()
	return c.wait(ctx, 1, desc)
}

func (c *localComm) desc(kind OpKind, buf *tensor.Tensor) OpDesc {
	d := OpDesc{Seq: c.seq + 1, Kind: kind}
	if buf != nil {
		d.DType, d.Count = buf.DType(), buf.Numel()
	}
	return d
}

func (c *localComm) AllReduce(ctx context.Context, buf *tensor.Tensor, op ReduceOp) error {
	if err := CheckBuffer("AllReduce", buf); err != nil {
		return err
	}
	d := c.desc(OpAllReduce, buf)
	d.Reduce = op
	// Peers read buf until phase 2 completes, so the result goes to a
	// private copy first and into buf only after that barrier.
	n := buf.Numel()
	var res pendingResult
	err := c.run(ctx, d, buf, func(all []localSlot) {
		if buf.DType() == tensor.Float32 {
			res.f32 = reduceSlots(all, n, op, (*tensor.Tensor).Float32s)
		} else {
			res.f64 = reduceSlots(all, n, op, (*tensor.Tensor).Float64s)
		}
	})
	if err != nil {
		return err
	}
	res.into(buf)
	return nil
}

func (c *localComm) ReduceScatter(ctx context.Context, send, recv *tensor.Tensor, op ReduceOp) error {
	if err := CheckBuffer("ReduceScatter send", send); err != nil {
		return err
	}
	if err := CheckBuffer("ReduceScatter recv", recv); err != nil {
		return err
	}
	k := recv.Numel()
	if send.DType() != recv.DType() || send.Numel() != c.hub.size*k {
		return fmt.Errorf("ReduceScatter: send holds %d %s, want %d %s", send.Numel(), send.DType(),
			c.hub.size*k, recv.DType())
	}
	d := c.desc(OpReduceScatter, recv)
	d.Reduce = op
	var res pendingResult
	err := c.run(ctx, d, send, func(all []localSlot) {
		lo := c.rank * k
		if recv.DType() == tensor.Float32 {
			res.f32 = reduceSlots(all, send.Numel(), op, (*tensor.Tensor).Float32s)[lo : lo+k]
		} else {
			res.f64 = reduceSlots(all, send.Numel(), op, (*tensor.Tensor).Float64s)[lo : lo+k]
		}
	})
	if err != nil {
		return err
	}
	res.into(recv)
	return nil
}

// pendingResult holds a collective's result until its closing barrier;
// only then may it overwrite the caller's buffer, which peers read until
// that barrier.
type pendingResult struct {
	f32 []float32
	f64 []float64
}

func (p pendingResult) into(buf *tensor.Tensor) {
	if p.f32 != nil {
		copy(buf.Float32s(), p.f32)
	} else if p.f64 != nil {
		copy(buf.Float64s(), p.f64)
	}
}

func (c *localComm) Broadcast(ctx context.Context, buf *tensor.Tensor, root int) error {
	if err := CheckBuffer("Broadcast", buf); err != nil {
		return err
	}
	if root < 0 || root >= c.hub.size {
		return fmt.Errorf("Broadcast: root %d outside [0, %d)", root, c.hub.size)
	}
	d := c.desc(OpBroadcast, buf)
	d.Root = root
	var res pendingResult
	err := c.run(ctx, d, buf, func(all []localSlot) {
		if c.rank == root {
			return
		}
		if buf.DType() == tensor.Float32 {
			res.f32 = append([]float32(nil), all[root].send.Float32s()...)
		} else {
			res.f64 = append([]float64(nil), all[root].send.Float64s()...)
		}
	})
	if err != nil {
		return err
	}
	res.into(buf)
	return nil
}

func (c *localComm) AllGather(ctx context.Context, send, recv *tensor.Tensor) error {
	if err := CheckBuffer("AllGather send", send); err != nil {
		return err
	}
	if err := CheckBuffer("AllGather recv", recv); err != nil {
		return err
	}
	if recv.DType() != send.DType() || recv.Numel() != c.hub.size*send.Numel() {
		return fmt.Errorf("AllGather: recv holds %d %s, want %d %s", recv.Numel(), recv.DType(),
			c.hub.size*send.Numel(), send.DType())
	}
	n := send.Numel()
	return c.run(ctx, c.desc(OpAllGather, send), send, func(all []localSlot) {
		for r, s := range all {
			if send.DType() == tensor.Float32 {
				copy(recv.Float32s()[r*n:(r+1)*n], s.send.Float32s())
			} else {
				copy(recv.Float64s()[r*n:(r+1)*n], s.send.Float64s())
			}
		}
	})
}

func (c *localComm) Barrier(ctx context.Context) error {
	return c.run(ctx, c.desc(OpBarrier, nil), nil, nil)
}

// reduceSlots adds the ranks' buffers in rank order (and divides for
// Average) into a fresh slice of n elements.
func reduceSlots[T float32 | float64](all []localSlot, n int, op ReduceOp, elems func(*tensor.Tensor) []T) []T {
	out := make([]T, n)
	for _, s := range all {
		for i, v := range elems(s.send) {
			out[i] += v
		}
	}
	if op == Average {
		for i := range out {
			out[i] /= T(len(all))
		}
	}
	return out
}
