package nccl

import (
	"context"
	"fmt"
	"sync"

	"github.com/fdsm-go/fdsm/collective"
	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/tensor/cuda"
)

// DeviceComm is a collective.Comm over the device tensors of one CUDA
// backend, through an NCCL communicator: each collective is enqueued on the
// backend's stream (or a communication stream of its own on the same GPU,
// NewDeviceCommOnStream), after the work that wrote its buffers, and the call
// returns once an event recorded after it has completed, with Comm.Wait as
// the watchdog (NCCL's asynchronous error polled, the communicator aborted
// on timeout), so every collective ends within the timeout. Wrap it with
// collective.WithDesyncCheck on the host control ring to name desyncs.
//
// Threading: as collective.Comm. The backend's other work may be enqueued
// from other goroutines; it runs in stream order with the collectives.
type DeviceComm struct {
	c      *Comm
	be     *cuda.Backend
	cs     *cuda.Backend // whose stream NCCL runs on: be, or a lane of be's GPU
	ownsCS bool          // cs was made for this communicator: Close closes it

	once    sync.Once
	barrier *tensor.Tensor // one element, for Barrier
}

// NewDeviceComm returns c over be's tensors, its collectives enqueued on
// be's own stream.
func NewDeviceComm(c *Comm, be *cuda.Backend) *DeviceComm { return &DeviceComm{c: c, be: be, cs: be} }

// NewDeviceCommOnStream returns c over be's tensors with its collectives on
// a communication stream of their own, that of cs, another backend (lane)
// on be's GPU: each collective waits there for the work be enqueued before
// the call (which wrote its buffers), and be's later work does not wait for
// it, so computation overlaps communication as PyTorch DDP's NCCL stream
// lets it. The call still returns once the collective has run.
func NewDeviceCommOnStream(c *Comm, be, cs *cuda.Backend) (*DeviceComm, error) {
	if cs.Device() != be.Device() {
		return nil, fmt.Errorf("nccl: the communication stream's backend %s is not on %s's GPU", cs.Name(), be.Name())
	}
	return &DeviceComm{c: c, be: be, cs: cs}, nil
}

// DeviceBackend is the backend whose tensors the collectives take
// (collective.DeviceMemory): no host copies.
func (d *DeviceComm) DeviceBackend() tensor.Backend { return d.be }

func (d *DeviceComm) Rank() int          { return d.c.Rank() }
func (d *DeviceComm) Size() int          { return d.c.Size() }
func (d *DeviceComm) Abort(reason error) { d.c.Abort(reason) }
func (d *DeviceComm) Err() error         { return d.c.Err() }
func (d *DeviceComm) Close() error {
	err := d.c.Close()
	if d.ownsCS {
		if cerr := d.cs.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// args checks that ts are this backend's float tensors of one dtype and
// returns their addresses and NCCL's dtype.
func (d *DeviceComm) args(name string, ts ...*tensor.Tensor) ([]uintptr, DataType, error) {
	ptrs := make([]uintptr, len(ts))
	for i, t := range ts {
		if err := collective.CheckBuffer(name, t); err != nil {
			return nil, 0, err
		}
		if t.Backend() != tensor.Backend(d.be) {
			return nil, 0, fmt.Errorf("%s: a tensor of %s, but this communicator runs on %s", name, t.Backend().Name(), d.be.Name())
		}
		if t.DType() != ts[0].DType() {
			return nil, 0, fmt.Errorf("%s: %s and %s tensors", name, ts[0].DType(), t.DType())
		}
		ptrs[i] = uintptr(d.be.Ptr(t))
	}
	dt := Float32
	if ts[0].DType() == tensor.Float64 {
		dt = Float64
	}
	return ptrs, dt, nil
}

// finish waits for the collective just enqueued: an event recorded after
// it on the backend's stream, polled by the watchdog.
func (d *DeviceComm) finish(ctx context.Context, enqueued error) error {
	if enqueued != nil {
		return enqueued
	}
	ev := d.cs.Record()
	return d.c.Wait(ctx, func() (bool, error) {
		if !ev.Done() {
			return false, nil
		}
		return true, ev.Wait()
	})
}

// stream returns the stream a collective is enqueued on next, which first
// waits for the work enqueued on be so far.
func (d *DeviceComm) stream() uintptr {
	if d.cs != d.be {
		d.cs.WaitFor(d.be.Record())
	}
	return uintptr(d.cs.Stream())
}

func (d *DeviceComm) AllReduce(ctx context.Context, buf *tensor.Tensor, op collective.ReduceOp) error {
	p, dt, err := d.args("AllReduce", buf)
	if err != nil {
		return err
	}
	return d.finish(ctx, d.c.AllReduce(p[0], p[0], buf.Numel(), dt, op, d.stream()))
}

func (d *DeviceComm) ReduceScatter(ctx context.Context, send, recv *tensor.Tensor, op collective.ReduceOp) error {
	p, dt, err := d.args("ReduceScatter", send, recv)
	if err != nil {
		return err
	}
	if send.Numel() != d.Size()*recv.Numel() {
		return fmt.Errorf("ReduceScatter: send holds %d elements, want %d", send.Numel(), d.Size()*recv.Numel())
	}
	return d.finish(ctx, d.c.ReduceScatter(p[0], p[1], recv.Numel(), dt, op, d.stream()))
}

func (d *DeviceComm) Broadcast(ctx context.Context, buf *tensor.Tensor, root int) error {
	p, dt, err := d.args("Broadcast", buf)
	if err != nil {
		return err
	}
	return d.finish(ctx, d.c.Broadcast(p[0], p[0], buf.Numel(), dt, root, d.stream()))
}

func (d *DeviceComm) AllGather(ctx context.Context, send, recv *tensor.Tensor) error {
	p, dt, err := d.args("AllGather", send, recv)
	if err != nil {
		return err
	}
	if recv.Numel() != d.Size()*send.Numel() {
		return fmt.Errorf("AllGather: recv holds %d elements, want %d", recv.Numel(), d.Size()*send.Numel())
	}
	return d.finish(ctx, d.c.AllGather(p[0], p[1], send.Numel(), dt, d.stream()))
}

// Barrier all-reduces one element: NCCL has no barrier of its own.
func (d *DeviceComm) Barrier(ctx context.Context) error {
	d.once.Do(func() { d.barrier = d.be.Zeros(tensor.Float32, 1) })
	return d.AllReduce(ctx, d.barrier, collective.Sum)
}

var _ collective.Comm = (*DeviceComm)(nil)
