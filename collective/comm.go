// Package collective is the contract every communicator implements: Comm
// (AllReduce, ReduceScatter, Broadcast, AllGather, Barrier over tensors,
// every call bounded by a timeout), reduce ops, the errors collectives fail
// with, an in-memory implementation for tests and single-process groups,
// and the conformance suite (package commtest) every implementation passes.
// Implementations: the TCP ring (package ring) on host memory, NCCL
// (package nccl) on device memory. It knows nothing of membership
// (package cluster) or training (package trainer).
package collective

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fdsm-go/fdsm/tensor"
)

// ReduceOp says how AllReduce combines the ranks' buffers.
type ReduceOp int

const (
	// Sum adds the buffers elementwise.
	Sum ReduceOp = iota
	// Average adds the buffers and divides by the world size.
	Average
)

func (op ReduceOp) String() string {
	switch op {
	case Sum:
		return "sum"
	case Average:
		return "average"
	}
	return fmt.Sprintf("ReduceOp(%d)", int(op))
}

// DefaultTimeout bounds every collective unless a Comm is configured
// otherwise. It is long enough for a slow step and short enough that a hung
// peer is diagnosed in minutes, never hours.
const DefaultTimeout = 5 * time.Minute

// Comm is a communicator over a fixed group of ranks 0..Size()-1.
//
// Threading: collectives on one Comm must be issued from one goroutine at a
// time and in the same order on every rank; that order defines each
// collective's sequence number. WithDesyncCheck compares it across ranks
// together with the operation, dtype, element count and root; an
// implementation alone only promises to fail (within its timeout) when ranks
// disagree. Rank, Size, Err and Abort may be called from any goroutine at
// any time. Async issues collectives without blocking the caller.
//
// Every collective ends, on every rank, within the Comm's timeout (or the
// context's deadline, whichever is sooner): with success, or with an error
// after a desync, a dead or hung peer, or Abort. After any error the Comm is
// broken: later calls return the first error (see Err). Recreate the group
// to continue.
//
// Buffers are tensors so that device implementations (NCCL) take device
// memory; host implementations require host tensors.
type Comm interface {
	// Rank returns this member's rank.
	Rank() int
	// Size returns the number of ranks.
	Size() int
	// AllReduce combines buf across ranks in place. Every rank ends with
	// bitwise identical contents.
	AllReduce(ctx context.Context, buf *tensor.Tensor, op ReduceOp) error
	// ReduceScatter combines send across ranks and leaves block r of the
	// result in rank r's recv: send holds Size()*recv.Numel() elements of
	// recv's dtype, block r being elements [r*k, (r+1)*k) with k =
	// recv.Numel(). send is not modified. The order of additions is the
	// implementation's (it may differ from AllReduce's).
	ReduceScatter(ctx context.Context, send, recv *tensor.Tensor, op ReduceOp) error
	// Broadcast copies root's buf into every other rank's buf.
	Broadcast(ctx context.Context, buf *tensor.Tensor, root int) error
	// AllGather concatenates every rank's send into recv in rank order;
	// recv must hold Size()*send.Numel() elements of send's dtype.
	AllGather(ctx context.Context, send, recv *tensor.Tensor) error
	// Barrier returns once every rank has entered it.
	Barrier(ctx context.Context) error
	// Abort breaks the communicator: in-flight and later collectives on this
	// rank fail with an error wrapping ErrAborted and reason, and peers'
	// in-flight collectives fail soon after. It is idempotent.
	Abort(reason error)
	// Err returns the error that broke the communicator, or nil.
	Err() error
	// Close releases the communicator's resources. Peers see it as an abort.
	Close() error
}

// DeviceMemory is implemented by a communicator whose collectives take the
// tensors of a device backend directly (NCCL over a CUDA backend); the
// others take host tensors, and device data goes through host copies.
type DeviceMemory interface {
	// DeviceBackend returns the backend whose tensors the collectives
	// take, or nil for host tensors.
	DeviceBackend() tensor.Backend
}

// DeviceBackendOf returns c's device backend (DeviceMemory), or nil.
func DeviceBackendOf(c Comm) tensor.Backend {
	if d, ok := c.(DeviceMemory); ok {
		return d.DeviceBackend()
	}
	return nil
}

// Errors wrapped by collective failures; test with errors.Is.
var (
	// ErrAborted: the communicator was aborted (locally or by a peer).
	ErrAborted = errors.New("communicator aborted")
	// ErrTimeout: a collective did not finish within its timeout.
	ErrTimeout = errors.New("collective timed out")
	// ErrDesync: ranks issued different collectives at the same sequence
	// number.
	ErrDesync = errors.New("collective desync")
	// ErrPeerLost: a peer's connection closed or failed mid-collective.
	ErrPeerLost = errors.New("peer lost")
)

// OpKind names a collective.
type OpKind uint8

const (
	OpAllReduce OpKind = iota + 1
	OpBroadcast
	OpAllGather
	OpBarrier
	OpReduceScatter
)

func (k OpKind) String() string {
	switch k {
	case OpAllReduce:
		return "AllReduce"
	case OpBroadcast:
		return "Broadcast"
	case OpAllGather:
		return "AllGather"
	case OpBarrier:
		return "Barrier"
	case OpReduceScatter:
		return "ReduceScatter"
	}
	return fmt.Sprintf("OpKind(%d)", int(k))
}

// OpDesc describes one collective call as every rank must agree on it.
type OpDesc struct {
	Seq    uint64
	Kind   OpKind
	DType  tensor.DType
	Count  int // elements per rank (send count for AllGather, recv count for ReduceScatter)
	Root   int // Broadcast only
	Reduce ReduceOp
}

func (d OpDesc) String() string {
	switch d.Kind {
	case OpBarrier:
		return fmt.Sprintf("Barrier(seq %d)", d.Seq)
	case OpBroadcast:
		return fmt.Sprintf("Broadcast(seq %d, %d %s, root %d)", d.Seq, d.Count, d.DType, d.Root)
	case OpAllReduce, OpReduceScatter:
		return fmt.Sprintf("%s(seq %d, %d %s, %s)", d.Kind, d.Seq, d.Count, d.DType, d.Reduce)
	}
	return fmt.Sprintf("%s(seq %d, %d %s)", d.Kind, d.Seq, d.Count, d.DType)
}

// Matches reports whether two ranks' descriptions of a collective agree.
func (d OpDesc) Matches(o OpDesc) bool {
	if d.Seq != o.Seq || d.Kind != o.Kind {
		return false
	}
	switch d.Kind {
	case OpBarrier:
		return true
	case OpBroadcast:
		return d.DType == o.DType && d.Count == o.Count && d.Root == o.Root
	case OpAllReduce, OpReduceScatter:
		return d.DType == o.DType && d.Count == o.Count && d.Reduce == o.Reduce
	}
	return d.DType == o.DType && d.Count == o.Count
}

// DesyncError reports two ranks that issued different collectives at the
// same position in the sequence. It wraps ErrDesync.
type DesyncError struct {
	Rank, PeerRank int
	Mine, Peer     OpDesc
}

func (e *DesyncError) Error() string {
	return fmt.Sprintf("collective desync: rank %d called %s but rank %d called %s",
		e.Rank, e.Mine, e.PeerRank, e.Peer)
}

func (e *DesyncError) Unwrap() error { return ErrDesync }

// CollectiveError wraps the failure of one collective with where it happened.
type CollectiveError struct {
	Rank int    // the rank reporting
	Op   OpDesc // the collective that failed
	Peer int    // the peer involved, or -1
	Err  error
}

func (e *CollectiveError) Error() string {
	if e.Peer >= 0 {
		return fmt.Sprintf("rank %d: %s with rank %d: %v", e.Rank, e.Op, e.Peer, e.Err)
	}
	return fmt.Sprintf("rank %d: %s: %v", e.Rank, e.Op, e.Err)
}

func (e *CollectiveError) Unwrap() error { return e.Err }

// CheckBuffer validates the arguments every Comm implementation shares.
func CheckBuffer(name string, buf *tensor.Tensor) error {
	if buf == nil {
		return fmt.Errorf("%s: nil buffer", name)
	}
	if dt := buf.DType(); dt != tensor.Float32 && dt != tensor.Float64 {
		return fmt.Errorf("%s: unsupported dtype %s", name, dt)
	}
	return nil
}
