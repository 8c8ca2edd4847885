package nccl

import (
	"context"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/collective"
	"github.com/fdsm-go/fdsm/collective/commtest"
	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/tensor/cuda"
	"github.com/fdsm-go/fdsm/tensor/cuda/gpu"
)

// TestConformanceOnGPU runs the collective conformance suite on a one-rank
// NCCL communicator over cuda:0 and the real libnccl.so.2, its collectives
// on a communication stream of their own (what NewGroupComm builds): NCCL
// always accepts one rank on one GPU. It runs where a GPU and NCCL are
// (tools/gpu/check.sh) and is skipped elsewhere. The suite's tensors live
// on the host; staged copies them to the GPU and back around each call.
func TestConformanceOnGPU(t *testing.T) {
	be, err := gpu.Open(0)
	if err != nil {
		t.Skipf("no GPU: %v", err)
	}
	lib, err := defaultLibrary()
	if err != nil {
		t.Skipf("no NCCL: %v", err)
	}
	dev := be.(*cuda.Backend)
	commtest.RunSizes(t, func(t *testing.T, n int) []collective.Comm {
		if n != 1 {
			t.Fatalf("one GPU holds one rank, asked for %d", n)
		}
		id, err := uniqueID(lib)
		if err != nil {
			t.Fatal(err)
		}
		c, err := initRank(context.Background(), lib, id, 1, 0, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := cuda.New(dev.Device(), cuda.Options{Name: "cuda:0/nccl", Lane: true})
		if err != nil {
			t.Fatal(err)
		}
		d, err := NewDeviceCommOnStream(c, dev, cs)
		if err != nil {
			t.Fatal(err)
		}
		d.ownsCS = true
		t.Cleanup(func() { _ = d.Close() })
		return []collective.Comm{staged{d}}
	}, 1)
}

// staged is a Comm over host tensors in front of a DeviceComm: each call
// copies its buffers to the device, runs there, and copies the results back.
type staged struct{ d *DeviceComm }

func (s staged) Rank() int          { return s.d.Rank() }
func (s staged) Size() int          { return s.d.Size() }
func (s staged) Abort(reason error) { s.d.Abort(reason) }
func (s staged) Err() error         { return s.d.Err() }
func (s staged) Close() error       { return s.d.Close() }

// toDevice returns a device copy of each host tensor (nil stays nil), and
// a function that copies the device tensors back and releases them.
func (s staged) toDevice(ts ...*tensor.Tensor) ([]*tensor.Tensor, func()) {
	be := s.d.DeviceBackend()
	out := make([]*tensor.Tensor, len(ts))
	for i, t := range ts {
		if t == nil || !t.IsHost() || (t.DType() != tensor.Float32 && t.DType() != tensor.Float64) {
			out[i] = t // let the communicator refuse it
			continue
		}
		out[i] = be.Empty(t.DType(), t.Shape()...)
		if t.DType() == tensor.Float32 {
			be.WriteFloat32s(out[i], t.Float32s())
		} else {
			be.WriteFloat64s(out[i], t.Float64s())
		}
	}
	return out, func() {
		for i, t := range ts {
			if out[i] == t {
				continue
			}
			if t.DType() == tensor.Float32 {
				be.ReadFloat32s(t.Float32s(), out[i])
			} else {
				be.ReadFloat64s(t.Float64s(), out[i])
			}
			be.Release(out[i])
		}
	}
}

func (s staged) AllReduce(ctx context.Context, buf *tensor.Tensor, op collective.ReduceOp) error {
	d, back := s.toDevice(buf)
	defer back()
	return s.d.AllReduce(ctx, d[0], op)
}

func (s staged) ReduceScatter(ctx context.Context, send, recv *tensor.Tensor, op collective.ReduceOp) error {
	d, back := s.toDevice(send, recv)
	defer back()
	return s.d.ReduceScatter(ctx, d[0], d[1], op)
}

func (s staged) Broadcast(ctx context.Context, buf *tensor.Tensor, root int) error {
	d, back := s.toDevice(buf)
	defer back()
	return s.d.Broadcast(ctx, d[0], root)
}

func (s staged) AllGather(ctx context.Context, send, recv *tensor.Tensor) error {
	d, back := s.toDevice(send, recv)
	defer back()
	return s.d.AllGather(ctx, d[0], d[1])
}

func (s staged) Barrier(ctx context.Context) error { return s.d.Barrier(ctx) }
