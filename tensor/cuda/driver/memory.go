package driver

import (
	"fmt"
	"unsafe"
)

// DevicePtr is a device address (CUdeviceptr). Go never dereferences it;
// arithmetic on it (p + DevicePtr(offset)) addresses inside an allocation.
type DevicePtr uintptr

// Alloc allocates n > 0 bytes of device memory (cuMemAlloc_v2). When the
// device is full the error matches ErrOutOfMemory and its *Error carries n
// in Bytes.
func (c *Context) Alloc(n int) (DevicePtr, error) {
	if err := c.live("Alloc"); err != nil {
		return 0, err
	}
	if n <= 0 {
		return 0, fmt.Errorf("cuda: Alloc of %d bytes: size must be positive", n)
	}
	p, r := c.lib().memAlloc(c.h, n)
	if r != Success {
		return 0, allocError(c.lib(), "cuMemAlloc_v2", r, n)
	}
	return DevicePtr(p), nil
}

// Free frees device memory from Alloc (cuMemFree_v2). It synchronizes with
// nothing: work still using p must be finished (a stream synchronized)
// first.
func (c *Context) Free(p DevicePtr) error {
	if err := c.live("Free"); err != nil {
		return err
	}
	return c.check("cuMemFree_v2", c.lib().memFree(c.h, uintptr(p)))
}

// HostBuffer is page-locked ("pinned") host memory from AllocHost. Copies
// from and to it are truly asynchronous, unlike copies of Go memory (see
// Stream.CopyHtoD). It is C memory: the Go garbage collector neither moves
// nor frees it.
type HostBuffer struct {
	p unsafe.Pointer
	n int
}

// Ptr returns the buffer's address, for the Stream copy methods.
func (h HostBuffer) Ptr() unsafe.Pointer { return h.p }

// Len returns the buffer's size in bytes.
func (h HostBuffer) Len() int { return h.n }

// Bytes returns the buffer as a byte slice, valid until FreeHost.
func (h HostBuffer) Bytes() []byte { return unsafe.Slice((*byte)(h.p), h.n) }

// AllocHost allocates n > 0 bytes of pinned host memory
// (cuMemAllocHost_v2). When that fails for lack of memory the error
// matches ErrOutOfMemory and carries n.
func (c *Context) AllocHost(n int) (HostBuffer, error) {
	if err := c.live("AllocHost"); err != nil {
		return HostBuffer{}, err
	}
	if n <= 0 {
		return HostBuffer{}, fmt.Errorf("cuda: AllocHost of %d bytes: size must be positive", n)
	}
	p, r := c.lib().memAllocHost(c.h, n)
	if r != Success {
		return HostBuffer{}, allocError(c.lib(), "cuMemAllocHost_v2", r, n)
	}
	return HostBuffer{p: p, n: n}, nil
}

// FreeHost frees a buffer from AllocHost (cuMemFreeHost); no copy may
// still be using it.
func (c *Context) FreeHost(h HostBuffer) error {
	if err := c.live("FreeHost"); err != nil {
		return err
	}
	return c.check("cuMemFreeHost", c.lib().memFreeHost(c.h, h.p))
}
