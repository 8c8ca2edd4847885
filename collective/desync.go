package collective

import (
	"context"
	"fmt"
	"sync"

	"github.com/fdsm-go/fdsm/tensor"
)

// WithDesyncCheck returns c with every collective checked across ranks
// before it runs, as PyTorch's ProcessGroupWrapper checks NCCL's calls over
// gloo: the ranks all-gather a fingerprint of the call (sequence number,
// operation, dtype, element count, root, reduce op) on check, and only when
// every rank's matches does the call reach c. A mismatch fails the
// collective on every rank with a DesyncError naming this rank's call and
// the first rank whose call differs, and breaks the wrapper for good: a
// desync is a bug in the caller, never something to continue through. Every
// rank gathered the same fingerprints, so every rank finds the desync by
// itself; nothing is aborted, since an abort would overtake peers still
// receiving the last fingerprints and hide the diagnosis from them.
//
// check must be a host communicator over the same ranks (the control ring
// beside NCCL); nil checks on c itself, which must then take host tensors.
// The wrapper adds one small all-gather per collective.
//
// Threading: as Comm. check must not be used by anyone else while a
// collective of the wrapper runs.
func WithDesyncCheck(c, check Comm) Comm {
	if check == nil {
		check = c
	}
	return &desyncChecked{inner: c, check: check}
}

type desyncChecked struct {
	inner, check Comm
	seq          uint64         // collective goroutine only
	send, recv   *tensor.Tensor // fingerprint buffers, reused (collective goroutine only)

	mu  sync.Mutex
	err error // the desync, once found
}

// fingerprintLen is the number of float64 words of a fingerprint; every
// field is an integer below 2^53, so the words carry it exactly.
const fingerprintLen = 6

func fingerprint(d OpDesc) []float64 {
	return []float64{float64(d.Seq), float64(d.Kind), float64(d.DType), float64(d.Count), float64(d.Root), float64(d.Reduce)}
}

func fromFingerprint(w []float64) OpDesc {
	return OpDesc{Seq: uint64(w[0]), Kind: OpKind(w[1]), DType: tensor.DType(w[2]), Count: int(w[3]), Root: int(w[4]), Reduce: ReduceOp(w[5])}
}

// agree all-gathers desc's fingerprint and fails unless every rank's matches.
func (w *desyncChecked) agree(ctx context.Context, desc OpDesc) error {
	w.seq++
	desc.Seq = w.seq
	if err := w.Err(); err != nil {
		return &CollectiveError{Rank: w.Rank(), Op: desc, Peer: -1, Err: err}
	}
	n := w.check.Size()
	if w.send == nil { // a collective per gradient bucket: no allocation per call
		w.send, w.recv = tensor.NewHost(tensor.Float64, fingerprintLen), tensor.NewHost(tensor.Float64, n*fingerprintLen)
	}
	send, recv := w.send, w.recv
	copy(send.Float64s(), fingerprint(desc))
	if err := w.check.AllGather(ctx, send, recv); err != nil {
		w.inner.Abort(err) // the call cannot be checked: do not let it run unchecked
		return &CollectiveError{Rank: w.Rank(), Op: desc, Peer: -1, Err: err}
	}
	all := recv.Float64s()
	for r := range n {
		peer := fromFingerprint(all[r*fingerprintLen : (r+1)*fingerprintLen])
		if peer.Matches(desc) {
			continue
		}
		err := &DesyncError{Rank: w.Rank(), PeerRank: r, Mine: desc, Peer: peer}
		w.mu.Lock()
		if w.err == nil {
			w.err = err
		}
		w.mu.Unlock()
		return &CollectiveError{Rank: w.Rank(), Op: desc, Peer: r, Err: err}
	}
	return nil
}

// describe describes a call for the fingerprint; a buffer the implementation
// would refuse is described as it is, so ranks still agree or disagree on
// what was asked.
func describe(kind OpKind, buf *tensor.Tensor) OpDesc {
	d := OpDesc{Kind: kind}
	if buf != nil {
		d.DType, d.Count = buf.DType(), buf.Numel()
	}
	return d
}

func (w *desyncChecked) Rank() int { return w.inner.Rank() }
func (w *desyncChecked) Size() int { return w.inner.Size() }

func (w *desyncChecked) AllReduce(ctx context.Context, buf *tensor.Tensor, op ReduceOp) error {
	d := describe(OpAllReduce, buf)
	d.Reduce = op
	if err := w.agree(ctx, d); err != nil {
		return err
	}
	return w.inner.AllReduce(ctx, buf, op)
}

func (w *desyncChecked) ReduceScatter(ctx context.Context, send, recv *tensor.Tensor, op ReduceOp) error {
	d := describe(OpReduceScatter, recv)
	d.Reduce = op
	if err := w.agree(ctx, d); err != nil {
		return err
	}
	return w.inner.ReduceScatter(ctx, send, recv, op)
}

func (w *desyncChecked) Broadcast(ctx context.Context, buf *tensor.Tensor, root int) error {
	d := describe(OpBroadcast, buf)
	d.Root = root
	if err := w.agree(ctx, d); err != nil {
		return err
	}
	return w.inner.Broadcast(ctx, buf, root)
}

func (w *desyncChecked) AllGather(ctx context.Context, send, recv *tensor.Tensor) error {
	if err := w.agree(ctx, describe(OpAllGather, send)); err != nil {
		return err
	}
	return w.inner.AllGather(ctx, send, recv)
}

func (w *desyncChecked) Barrier(ctx context.Context) error {
	if err := w.agree(ctx, OpDesc{Kind: OpBarrier}); err != nil {
		return err
	}
	return w.inner.Barrier(ctx)
}

func (w *desyncChecked) Abort(reason error) { w.inner.Abort(reason) }

// DeviceBackend is the wrapped communicator's (DeviceMemory).
func (w *desyncChecked) DeviceBackend() tensor.Backend { return DeviceBackendOf(w.inner) }

func (w *desyncChecked) Err() error {
	w.mu.Lock()
	err := w.err
	w.mu.Unlock()
	if err != nil {
		return err
	}
	return w.inner.Err()
}

func (w *desyncChecked) Close() error { return w.inner.Close() }

// String names the wrapped communicator in logs.
func (w *desyncChecked) String() string { return fmt.Sprintf("desync-checked %v", w.inner) }
