package nccl

import (
	"context"
	"fmt"
	"time"

	"github.com/fdsm-go/fdsm/collective"
	"github.com/fdsm-go/fdsm/tensor/cuda"
)

// NewGroupComm makes this rank's gradient communicator for a group formed
// by the rendezvous: rank 0 creates NCCL's unique id and sends it to the
// others over control (the group's host control ring), every rank joins
// with InitRank (non-blocking, bounded by timeout), and the result, over
// be's tensors with its collectives on a communication stream of their own
// (a lane of be's GPU, NewDeviceCommOnStream), is wrapped by the desync
// check on control. A failure on
// rank 0 before the id is sent aborts control, so the others fail at once
// instead of at their timeout. A regroup makes a new one; closing the old
// session closes (or aborts) the old communicator.
//
// NCCL binds a communicator to the device current when it is created; on
// a machine with several GPUs, each rank's process sees one (launch gives
// every worker its own CUDA_VISIBLE_DEVICES), so that is be's.
func NewGroupComm(ctx context.Context, be *cuda.Backend, control collective.Comm, timeout time.Duration) (collective.Comm, error) {
	lib, err := defaultLibrary()
	if err != nil {
		if control.Rank() == 0 {
			control.Abort(err)
		}
		return nil, err
	}
	return newGroupComm(ctx, lib, be, control, timeout)
}

func newGroupComm(ctx context.Context, lib library, be *cuda.Backend, control collective.Comm, timeout time.Duration) (collective.Comm, error) {
	var payload []byte
	if control.Rank() == 0 {
		id, err := uniqueID(lib)
		if err != nil {
			control.Abort(err)
			return nil, err
		}
		payload = id[:]
	}
	b, err := collective.BroadcastBytes(ctx, control, 0, payload)
	if err != nil {
		return nil, fmt.Errorf("nccl: receiving the unique id from rank 0: %w", err)
	}
	var id UniqueID
	if len(b) != len(id) {
		return nil, fmt.Errorf("nccl: rank 0 sent a unique id of %d bytes, want %d", len(b), len(id))
	}
	copy(id[:], b)
	c, err := initRank(ctx, lib, id, control.Size(), control.Rank(), timeout)
	if err != nil {
		return nil, err
	}
	cs, err := cuda.New(be.Device(), cuda.Options{Name: be.Name() + "/nccl", Lane: true})
	if err != nil {
		c.Abort(err)
		return nil, fmt.Errorf("nccl: a communication stream on %s: %w", be.Name(), err)
	}
	d, err := NewDeviceCommOnStream(c, be, cs)
	if err != nil {
		c.Abort(err)
		return nil, err
	}
	d.ownsCS = true
	return collective.WithDesyncCheck(d, control), nil
}
