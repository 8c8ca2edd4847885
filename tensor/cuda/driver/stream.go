package driver

import (
	"errors"
	"fmt"
	"unsafe"
)

// StreamFlags are cuStreamCreate's flags.
type StreamFlags uint32

const (
	// StreamDefault synchronizes with the legacy default stream (stream 0).
	StreamDefault StreamFlags = 0
	// StreamNonBlocking does not: the usual choice, so that work others put
	// on stream 0 does not serialize ours.
	StreamNonBlocking StreamFlags = 1
)

// Stream is a CUDA stream (CUstream) of one Context: work on it runs in
// order, asynchronously to the host.
//
// Threading: the driver accepts calls on one stream from several threads,
// but their order is then whatever the goroutines make it; enqueue from one
// goroutine at a time to keep an order. Destroy must not overlap other
// calls on the stream.
type Stream struct {
	ctx  *Context
	h    uintptr
	gone bool
}

// NewStream creates a stream on c.
func (c *Context) NewStream(flags StreamFlags) (*Stream, error) {
	if err := c.live("NewStream"); err != nil {
		return nil, err
	}
	h, r := c.lib().streamCreate(c.h, flags)
	if err := c.check("cuStreamCreate", r); err != nil {
		return nil, err
	}
	return &Stream{ctx: c, h: h}, nil
}

// Handle returns the CUstream, which is also a valid cudaStream_t for
// libraries built on the runtime API (cuBLAS, NCCL).
func (s *Stream) Handle() uintptr { return s.h }

// Context returns the stream's context.
func (s *Stream) Context() *Context { return s.ctx }

// live fails for a destroyed stream or a released context.
func (s *Stream) live(what string) error {
	if s.gone {
		return fmt.Errorf("%w: %s on a destroyed stream", ErrReleased, what)
	}
	return s.ctx.live(what)
}

// sized is live for a call moving n bytes, which must not be negative.
func (s *Stream) sized(what string, n int) error {
	if n < 0 {
		return fmt.Errorf("cuda: %s of %d bytes: size must not be negative", what, n)
	}
	return s.live(what)
}

// Synchronize waits until all work on the stream is done.
func (s *Stream) Synchronize() error {
	if err := s.live("Synchronize"); err != nil {
		return err
	}
	return s.ctx.check("cuStreamSynchronize", s.ctx.lib().streamSynchronize(s.ctx.h, s.h))
}

// Query reports whether all work on the stream is done, without waiting.
func (s *Stream) Query() (bool, error) {
	if err := s.live("Query"); err != nil {
		return false, err
	}
	r := s.ctx.lib().streamQuery(s.ctx.h, s.h)
	if r == NotReady {
		return false, nil
	}
	return r == Success, s.ctx.check("cuStreamQuery", r)
}

// WaitEvent makes later work on s wait until e's recorded work is done,
// without blocking the host. e may belong to another context.
func (s *Stream) WaitEvent(e *Event) error {
	if err := s.live("WaitEvent"); err != nil {
		return err
	}
	if e == nil || e.gone {
		return errors.New("cuda: WaitEvent needs a live event")
	}
	return s.ctx.check("cuStreamWaitEvent", s.ctx.lib().streamWaitEvent(s.ctx.h, s.h, e.h))
}

// Destroy destroys the stream (cuStreamDestroy_v2); work already on it
// still completes.
func (s *Stream) Destroy() error {
	if err := s.live("Destroy"); err != nil {
		return err
	}
	s.gone = true
	return s.ctx.check("cuStreamDestroy_v2", s.ctx.lib().streamDestroy(s.ctx.h, s.h))
}

// CopyHtoD copies n bytes from host memory src to device memory dst on the
// stream. From Go (pageable) memory the driver stages the bytes before it
// returns, so src may be reused at once; from a HostBuffer the copy is
// asynchronous and the buffer must stay untouched until the stream has
// passed it.
func (s *Stream) CopyHtoD(dst DevicePtr, src unsafe.Pointer, n int) error {
	if err := s.sized("CopyHtoD", n); err != nil {
		return err
	}
	return s.ctx.check("cuMemcpyHtoDAsync_v2",
		s.ctx.lib().memcpyHtoD(s.ctx.h, uintptr(dst), src, n, s.h))
}

// CopyDtoH copies n bytes from device memory src to host memory dst on the
// stream. Into Go (pageable) memory it returns only when the copy is done;
// into a HostBuffer it is asynchronous: synchronize before reading dst.
func (s *Stream) CopyDtoH(dst unsafe.Pointer, src DevicePtr, n int) error {
	if err := s.sized("CopyDtoH", n); err != nil {
		return err
	}
	return s.ctx.check("cuMemcpyDtoHAsync_v2",
		s.ctx.lib().memcpyDtoH(s.ctx.h, dst, uintptr(src), n, s.h))
}

// CopyDtoD copies n bytes between device buffers on the stream.
func (s *Stream) CopyDtoD(dst, src DevicePtr, n int) error {
	if err := s.sized("CopyDtoD", n); err != nil {
		return err
	}
	return s.ctx.check("cuMemcpyDtoDAsync_v2",
		s.ctx.lib().memcpyDtoD(s.ctx.h, uintptr(dst), uintptr(src), n, s.h))
}

// Memset sets n bytes of device memory to v on the stream (cuMemsetD8Async).
func (s *Stream) Memset(dst DevicePtr, v byte, n int) error {
	if err := s.sized("Memset", n); err != nil {
		return err
	}
	return s.ctx.check("cuMemsetD8Async", s.ctx.lib().memsetD8(s.ctx.h, uintptr(dst), v, n, s.h))
}
