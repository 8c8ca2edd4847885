package nccl

import (
	"context"
	"fmt"

	"github.com/fdsm-go/fdsm/collective"
)

// The collectives take device pointers and a stream (cudaStream_t or
// CUstream) as uintptr, and return once NCCL has enqueued the work on the
// stream; Wait observes completion. An error breaks the communicator.

// AllReduce combines count elements of send across ranks into recv (in
// place when send == recv).
func (c *Comm) AllReduce(send, recv uintptr, count int, dt DataType, op collective.ReduceOp, stream uintptr) error {
	d, o, err := c.codes(count, dt, op)
	if err != nil {
		return c.fail(c.aborted("AllReduce", err))
	}
	return c.enqueue("AllReduce", "ncclAllReduce", func(h uintptr) Result {
		return c.lib.allReduce(send, recv, count, d, o, h, stream)
	})
}

// Broadcast copies count elements of root's send into every rank's recv.
func (c *Comm) Broadcast(send, recv uintptr, count int, dt DataType, root int, stream uintptr) error {
	d, _, err := c.codes(count, dt, collective.Sum)
	if err == nil && (root < 0 || root >= c.nranks) {
		err = fmt.Errorf("nccl: broadcast root %d out of range for %d ranks", root, c.nranks)
	}
	if err != nil {
		return c.fail(c.aborted("Broadcast", err))
	}
	return c.enqueue("Broadcast", "ncclBroadcast", func(h uintptr) Result {
		return c.lib.broadcast(send, recv, count, d, root, h, stream)
	})
}

// AllGather puts every rank's sendCount elements into recv in rank order;
// recv holds Size()*sendCount elements.
func (c *Comm) AllGather(send, recv uintptr, sendCount int, dt DataType, stream uintptr) error {
	d, _, err := c.codes(sendCount, dt, collective.Sum)
	if err != nil {
		return c.fail(c.aborted("AllGather", err))
	}
	return c.enqueue("AllGather", "ncclAllGather", func(h uintptr) Result {
		return c.lib.allGather(send, recv, sendCount, d, h, stream)
	})
}

// ReduceScatter combines send (Size()*recvCount elements) across ranks and
// leaves block Rank() of the result in recv.
func (c *Comm) ReduceScatter(send, recv uintptr, recvCount int, dt DataType, op collective.ReduceOp, stream uintptr) error {
	d, o, err := c.codes(recvCount, dt, op)
	if err != nil {
		return c.fail(c.aborted("ReduceScatter", err))
	}
	return c.enqueue("ReduceScatter", "ncclReduceScatter", func(h uintptr) Result {
		return c.lib.reduceScatter(send, recv, recvCount, d, o, h, stream)
	})
}

// codes validates a collective's arguments and maps them to NCCL's values.
func (c *Comm) codes(count int, dt DataType, op collective.ReduceOp) (dtype, rop int, err error) {
	if count < 0 {
		return 0, 0, fmt.Errorf("nccl: negative element count %d", count)
	}
	if dtype, err = dt.code(); err != nil {
		return 0, 0, err
	}
	rop, err = opCode(op)
	return dtype, rop, err
}

// enqueue issues one NCCL call on the live communicator. A non-blocking
// communicator may answer ncclInProgress (e.g. while connecting to peers);
// NCCL then allows no other call until its state leaves InProgress, so
// enqueue waits for that under the watchdog before returning.
func (c *Comm) enqueue(what, call string, launch func(comm uintptr) Result) error {
	c.mu.Lock()
	if c.err != nil {
		defer c.mu.Unlock()
		return c.err
	}
	r := launch(c.handle)
	if r != Success && r != InProgress {
		defer c.mu.Unlock()
		return c.failLocked(c.aborted(what, callError(c.lib, call, r, c.handle)))
	}
	c.mu.Unlock()
	if r == InProgress {
		return c.watch(context.Background(), what, nil)
	}
	return nil
}
