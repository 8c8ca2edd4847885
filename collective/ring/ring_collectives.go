package ring

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/fdsm-go/fdsm/collective"

	"github.com/fdsm-go/fdsm/tensor"
)

// A collective on the ring is a schedule over byte spans of one buffer: the
// spans this rank sends first, then the spans it receives in order, each
// either reduced into place or received into place, and possibly forwarded
// to the next rank. Every span streams in chunks; the collective goroutine
// receives and reduces chunk by chunk and queues each finished chunk for a
// writer goroutine, so forwarding chunk c overlaps receiving chunk c+1, and
// the socket buffers keep data moving while a chunk is reduced.
//
// Ranks agree on span boundaries and chunking because they compute them
// from the same (checked) OpDesc.

// byteSpan is a byte range [off, off+n) of the collective's buffer.
type byteSpan struct{ off, n int }

// recvStep is one span received from the predecessor.
type recvStep struct {
	byteSpan
	reduce  bool // add into place (via scratch) rather than receive in place
	div     int  // after reducing, divide by div (collective.Average's owner); 1 = no-op
	forward bool // send the finished span on to the next rank
}

// segments splits count elements of elem bytes into n contiguous spans
// whose lengths differ by at most one element (some empty when count < n).
func ringSegments(count, n, elem int) []byteSpan {
	out := make([]byteSpan, n)
	base, rem := count/n, count%n
	off := 0
	for i := range out {
		k := base
		if i < rem {
			k++
		}
		out[i] = byteSpan{off * elem, k * elem}
		off += k
	}
	return out
}

func (r *ring) mod(i int) int { return ((i % r.size) + r.size) % r.size }

// begin validates the ring's state and arguments and assigns the
// collective's sequence number. An argument error aborts the ring: the
// other ranks are already waiting in this collective, and an abort tells
// them why at once instead of after the timeout.
func (r *ring) begin(ctx context.Context, desc *collective.OpDesc, argErr error) error {
	r.seq++
	desc.Seq = r.seq
	if _, cause := r.broken(); cause != nil {
		return r.collectiveError(*desc)
	}
	if peer, notice := r.pendingNotice(); notice != nil && argErr == nil {
		r.fail(notice, peer) // the successor is gone: this collective cannot finish
		return r.collectiveError(*desc)
	}
	if argErr == nil && ctx.Err() != nil {
		argErr = ctxFailure(ctx)
	}
	if argErr != nil {
		r.fail(argErr, -1)
		return r.collectiveError(*desc)
	}
	return nil
}

func (r *ring) collectiveError(desc collective.OpDesc) error {
	peer, cause := r.broken()
	return &collective.CollectiveError{Rank: r.rank, Op: desc, Peer: peer, Err: cause}
}

// ctxFailure describes why ctx ended.
func ctxFailure(ctx context.Context) error {
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("%w: the context's deadline passed: %w", collective.ErrTimeout, ctx.Err())
	}
	return fmt.Errorf("%w: %w", collective.ErrAborted, ctx.Err())
}

// hostArg checks a collective's buffer for the ring: a float host tensor.
func hostArg(name string, t *tensor.Tensor) error {
	if err := collective.CheckBuffer(name, t); err != nil {
		return err
	}
	if !t.IsHost() {
		return fmt.Errorf("%s: the TCP ring needs host tensors, got a device tensor (use the NCCL communicator)", name)
	}
	return nil
}

func (r *ring) AllReduce(ctx context.Context, buf *tensor.Tensor, op collective.ReduceOp) error {
	argErr := hostArg("AllReduce", buf)
	if argErr == nil && op != collective.Sum && op != collective.Average {
		argErr = fmt.Errorf("AllReduce: unknown reduce op %v", op)
	}
	desc := collective.OpDesc{Kind: collective.OpAllReduce, Reduce: op}
	if argErr == nil {
		desc.DType, desc.Count = buf.DType(), buf.Numel()
	}
	if err := r.begin(ctx, &desc, argErr); err != nil {
		return err
	}
	if r.size == 1 {
		return nil // the sum of one buffer, and x/1 == x exactly
	}
	elem := buf.DType().Size()
	seg := ringSegments(buf.Numel(), r.size, elem)
	// Reduce-scatter: at step t rank r receives segment r-t-1, adds its own
	// part and passes it on; after n-1 steps it owns segment r+1 fully
	// reduced (divided once, by the owner, for Average, so every rank ends
	// with the owner's bits). All-gather: the owned segments travel around
	// the ring once more and are received in place.
	n := r.size
	steps := make([]recvStep, 0, 2*(n-1))
	for t := range n - 1 {
		st := recvStep{byteSpan: seg[r.mod(r.rank-t-1)], reduce: true, div: 1, forward: true}
		if t == n-2 && op == collective.Average {
			st.div = n
		}
		steps = append(steps, st)
	}
	for s := range n - 1 {
		steps = append(steps, recvStep{byteSpan: seg[r.mod(r.rank-s)], forward: s < n-2})
	}
	red := reduceFloat32
	if buf.DType() == tensor.Float64 {
		red = reduceFloat64
	}
	return r.exchange(ctx, desc, hostBytes(buf), []byteSpan{seg[r.rank]}, steps, red)
}

// ReduceScatter runs the reduce-scatter half of AllReduce on a copy of
// send, shifted by one segment so that rank r finishes owning segment r,
// and copies that segment into recv.
func (r *ring) ReduceScatter(ctx context.Context, send, recv *tensor.Tensor, op collective.ReduceOp) error {
	argErr := hostArg("ReduceScatter send", send)
	if argErr == nil {
		argErr = hostArg("ReduceScatter recv", recv)
	}
	if argErr == nil && (send.DType() != recv.DType() || send.Numel() != r.size*recv.Numel()) {
		argErr = fmt.Errorf("ReduceScatter: send holds %d %s, want %d %s", send.Numel(), send.DType(),
			r.size*recv.Numel(), recv.DType())
	}
	if argErr == nil && op != collective.Sum && op != collective.Average {
		argErr = fmt.Errorf("ReduceScatter: unknown reduce op %v", op)
	}
	desc := collective.OpDesc{Kind: collective.OpReduceScatter, Reduce: op}
	if argErr == nil {
		desc.DType, desc.Count = recv.DType(), recv.Numel()
	}
	if err := r.begin(ctx, &desc, argErr); err != nil {
		return err
	}
	if r.size == 1 {
		copy(hostBytes(recv), hostBytes(send))
		return nil
	}
	elem := send.DType().Size()
	seg := ringSegments(send.Numel(), r.size, elem)
	n := r.size
	steps := make([]recvStep, 0, n-1)
	for t := range n - 1 {
		st := recvStep{byteSpan: seg[r.mod(r.rank-t-2)], reduce: true, div: 1, forward: t < n-2}
		if t == n-2 && op == collective.Average {
			st.div = n
		}
		steps = append(steps, st)
	}
	red := reduceFloat32
	if send.DType() == tensor.Float64 {
		red = reduceFloat64
	}
	work := alignedBytes(send.Bytes())
	copy(work, hostBytes(send))
	if err := r.exchange(ctx, desc, work, []byteSpan{seg[r.mod(r.rank-1)]}, steps, red); err != nil {
		return err
	}
	mine := seg[r.rank]
	copy(hostBytes(recv), work[mine.off:mine.off+mine.n])
	return nil
}

func (r *ring) Broadcast(ctx context.Context, buf *tensor.Tensor, root int) error {
	argErr := hostArg("Broadcast", buf)
	if argErr == nil && (root < 0 || root >= r.size) {
		argErr = fmt.Errorf("Broadcast: root %d outside [0, %d)", root, r.size)
	}
	desc := collective.OpDesc{Kind: collective.OpBroadcast, Root: root}
	if argErr == nil {
		desc.DType, desc.Count = buf.DType(), buf.Numel()
	}
	if err := r.begin(ctx, &desc, argErr); err != nil {
		return err
	}
	if r.size == 1 {
		return nil
	}
	// A pipeline from root around the ring; the rank before root only
	// receives.
	all := byteSpan{0, buf.Bytes()}
	if r.rank == root {
		return r.exchange(ctx, desc, hostBytes(buf), []byteSpan{all}, nil, nil)
	}
	steps := []recvStep{{byteSpan: all, forward: r.next != root}}
	return r.exchange(ctx, desc, hostBytes(buf), nil, steps, nil)
}

func (r *ring) AllGather(ctx context.Context, send, recv *tensor.Tensor) error {
	argErr := hostArg("AllGather send", send)
	if argErr == nil {
		argErr = hostArg("AllGather recv", recv)
	}
	if argErr == nil && (recv.DType() != send.DType() || recv.Numel() != r.size*send.Numel()) {
		argErr = fmt.Errorf("AllGather: recv holds %d %s, want %d %s", recv.Numel(), recv.DType(),
			r.size*send.Numel(), send.DType())
	}
	desc := collective.OpDesc{Kind: collective.OpAllGather}
	if argErr == nil {
		desc.DType, desc.Count = send.DType(), send.Numel()
	}
	if err := r.begin(ctx, &desc, argErr); err != nil {
		return err
	}
	blocks := ringSegments(recv.Numel(), r.size, recv.DType().Size())
	out := hostBytes(recv)
	mine := blocks[r.rank]
	copy(out[mine.off:mine.off+mine.n], hostBytes(send))
	if r.size == 1 {
		return nil
	}
	return r.exchange(ctx, desc, out, []byteSpan{mine}, r.gatherSteps(blocks), nil)
}

// gatherSteps receives every other rank's block in place: at step t the
// block of rank r-t-1, forwarded except at the last step.
func (r *ring) gatherSteps(blocks []byteSpan) []recvStep {
	steps := make([]recvStep, r.size-1)
	for t := range steps {
		steps[t] = recvStep{byteSpan: blocks[r.mod(r.rank-t-1)], forward: t < r.size-2}
	}
	return steps
}

// Barrier all-gathers one byte per rank: a rank returns once every rank's
// byte, sent on entering, has reached it.
func (r *ring) Barrier(ctx context.Context) error {
	desc := collective.OpDesc{Kind: collective.OpBarrier}
	if err := r.begin(ctx, &desc, nil); err != nil {
		return err
	}
	if r.size == 1 {
		return nil
	}
	tokens := make([]byte, r.size)
	blocks := ringSegments(r.size, r.size, 1)
	return r.exchange(ctx, desc, tokens, []byteSpan{blocks[r.rank]}, r.gatherSteps(blocks), nil)
}

// exchange runs one collective's schedule on buf (see the comment at the top
// of this file). It runs on the collective goroutine and starts one writer
// goroutine, and returns once the writer is done with buf.
func (r *ring) exchange(ctx context.Context, desc collective.OpDesc, buf []byte, first []byteSpan, steps []recvStep, red reducer) error {
	if !r.setDeadlines(ctx) {
		return r.collectiveError(desc) // closed: the ring broke meanwhile
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, func() { r.fail(ctxFailure(ctx), -1) })
		defer stop()
	}
	w := r.startWriter(first, steps)
	encodeOpDesc(&r.hdr, desc)
	w.push(r.hdr[:])
	for _, s := range first {
		w.pushSpan(buf, s, r.chunk)
	}
	if !r.readPeerHeader(desc) {
		return r.endExchange(w, desc)
	}
	for _, st := range steps {
		if !r.receiveStep(w, buf, st, red) {
			break
		}
	}
	return r.endExchange(w, desc)
}

// setDeadlines bounds the collective's I/O by the collective timeout or
// ctx's deadline, whichever is sooner, and notes which in r.ctxDeadline
// (before the writer starts, which reads it). False if a connection is
// closed.
func (r *ring) setDeadlines(ctx context.Context) bool {
	var deadline time.Time
	deadline, r.ctxDeadline = deadlineOf(ctx, r.timeout)
	return r.send.SetWriteDeadline(deadline) == nil && r.recv.SetReadDeadline(deadline) == nil
}

// startWriter starts the collective's writer goroutine. Its queue holds
// every chunk this rank sends in the collective, so that queueing never
// blocks the collective goroutine.
func (r *ring) startWriter(first []byteSpan, steps []recvStep) *chunkWriter {
	w := &chunkWriter{
		queue:    make(chan []byte, r.sendChunks(first, steps)),
		progress: make(chan struct{}, 1),
		done:     make(chan struct{}),
		sentAt:   make(map[int]int, len(first)+len(steps)),
	}
	go r.write(w)
	return w
}

// sendChunks counts the chunks this rank sends: the header, the spans it
// sends first and the spans it forwards.
func (r *ring) sendChunks(first []byteSpan, steps []recvStep) int {
	chunks := 1 // the header
	for _, s := range first {
		chunks += r.chunks(s.n)
	}
	for _, st := range steps {
		if st.forward {
			chunks += r.chunks(st.n)
		}
	}
	return chunks
}

// endExchange closes the writer's queue and waits for the writer to exit,
// so that the caller has buf back, and returns the ring's failure, if any,
// as the collective's error.
func (r *ring) endExchange(w *chunkWriter, desc collective.OpDesc) error {
	close(w.queue)
	<-w.done
	if _, cause := r.broken(); cause != nil {
		return r.collectiveError(desc)
	}
	return nil
}

// readPeerHeader reads the predecessor's header and checks that it
// describes this collective. If not, or if the read fails, it fails the ring
// and returns false.
func (r *ring) readPeerHeader(desc collective.OpDesc) bool {
	var peerHdr [opHeaderLen]byte
	if _, err := io.ReadFull(r.recv, peerHdr[:]); err != nil {
		r.fail(r.ioError(err, r.prev, true), r.prev)
		return false
	}
	peerDesc, err := decodeOpDesc(&peerHdr)
	if err != nil {
		r.fail(fmt.Errorf("%w: from rank %d: %v", collective.ErrPeerLost, r.prev, err), r.prev)
		return false
	}
	if !peerDesc.Matches(desc) {
		// The stream from the predecessor is not this collective's: stop
		// before reading it as data. Naming the two calls is
		// collective.WithDesyncCheck's job.
		r.fail(fmt.Errorf("%w: rank %d sent %s where this rank runs %s", collective.ErrDesync, r.prev, peerDesc, desc), r.prev)
		return false
	}
	return true
}

// receiveStep receives step st's span chunk by chunk, reducing it or
// receiving it in place, and queues each finished chunk for the writer if
// st forwards. False if the ring failed meanwhile.
func (r *ring) receiveStep(w *chunkWriter, buf []byte, st recvStep, red reducer) bool {
	if st.reduce && len(r.scratch) < min(r.chunk, st.n) {
		r.scratch = alignedBytes(min(r.chunk, st.n))
	}
	sent, wasSent := w.sentAt[st.off]
	if st.forward && st.n > 0 {
		w.sentAt[st.off] = w.queued
	}
	for i, off, end := 0, st.off, st.off+st.n; off < end; i, off = i+1, off+r.chunk {
		c := buf[off:min(off+r.chunk, end)]
		// Overwriting a chunk sent earlier in this collective (the
		// all-gather half of AllReduce): its write finished long ago,
		// since the data replacing it depends on it; waiting on the
		// writer's count makes that explicit.
		if wasSent && !w.waitWritten(sent+i) {
			return false
		}
		if !r.receiveChunk(c, st, red) {
			return false
		}
		if st.forward {
			w.push(c)
		}
	}
	return true
}

// receiveChunk reads chunk c of step st from the predecessor: into c, or
// into scratch and then reduced into c. False if the read failed (which
// fails the ring).
func (r *ring) receiveChunk(c []byte, st recvStep, red reducer) bool {
	dst := c
	if st.reduce {
		dst = r.scratch[:len(c)]
	}
	if _, err := io.ReadFull(r.recv, dst); err != nil {
		r.fail(r.ioError(err, r.prev, true), r.prev)
		return false
	}
	if st.reduce {
		red(c, dst, st.div)
	}
	return true
}

// chunks counts the chunks of a span of n bytes.
func (r *ring) chunks(n int) int { return (n + r.chunk - 1) / r.chunk }

// chunkWriter is one collective's writer: chunks queued in order by the
// collective goroutine, written by the writer goroutine.
type chunkWriter struct {
	queue    chan []byte
	queued   int          // chunks queued so far (collective goroutine)
	written  atomic.Int64 // chunks fully written (writer goroutine)
	progress chan struct{}
	done     chan struct{} // closed when the writer exits
	sentAt   map[int]int   // span offset -> queue index of its first chunk
}

func (w *chunkWriter) push(b []byte) {
	w.queue <- b
	w.queued++
}

func (w *chunkWriter) pushSpan(buf []byte, s byteSpan, chunk int) {
	if s.n > 0 {
		w.sentAt[s.off] = w.queued
	}
	for off, end := s.off, s.off+s.n; off < end; off += chunk {
		w.push(buf[off:min(off+chunk, end)])
	}
}

// waitWritten waits until queue item i has been written; false if the
// writer stopped first (the ring failed).
func (w *chunkWriter) waitWritten(i int) bool {
	for w.written.Load() <= int64(i) {
		select {
		case <-w.progress:
		case <-w.done:
			return w.written.Load() > int64(i)
		}
	}
	return true
}

// write sends the queued chunks in order until the queue closes. After a
// failure it returns at once: the queue holds every chunk of the
// collective, so pushes never need a reader, and closing done is what wakes
// a collective goroutine waiting in waitWritten (waiting here for the queue
// to close instead would deadlock with it).
func (r *ring) write(w *chunkWriter) {
	defer close(w.done)
	for b := range w.queue {
		if _, err := r.send.Write(b); err != nil {
			r.fail(r.ioError(err, r.next, false), r.next)
			return
		}
		w.written.Add(1)
		select {
		case w.progress <- struct{}{}:
		default:
		}
	}
}

// alignedBytes allocates n bytes aligned for float64 views.
func alignedBytes(n int) []byte {
	if n == 0 {
		return nil
	}
	f := make([]float64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), n)
}
