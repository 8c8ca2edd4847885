package driver

import (
	"fmt"
	"sync/atomic"
)

// Context is a device's primary context (CUcontext), retained by
// Device.RetainPrimary.
//
// Threading: a CUDA context is current per OS thread and goroutines move
// between threads, so every call made through a Context, and through the
// streams, events, modules and cuBLAS handles made on it, makes the context
// current inside the same C call that does the work. Callers need no
// runtime.LockOSThread, and a Context is safe from any goroutine. Release it
// once, when no goroutine uses it or anything made on it any more; calls
// after Release fail with ErrReleased.
type Context struct {
	dev      Device
	h        uintptr
	released atomic.Bool
}

// Handle returns the CUcontext, for libraries that take one.
func (c *Context) Handle() uintptr { return c.h }

// Device returns the context's device.
func (c *Context) Device() Device { return c.dev }

// Release releases the primary context (cuDevicePrimaryCtxRelease_v2);
// the driver destroys it when every retain is released. A second Release
// returns ErrReleased and calls nothing.
func (c *Context) Release() error {
	if c.released.Swap(true) {
		return fmt.Errorf("%w: context of device %d released twice", ErrReleased, c.dev.ordinal)
	}
	return check(c.lib(), "cuDevicePrimaryCtxRelease_v2", c.lib().primaryCtxRelease(c.dev.h))
}

// MemInfo returns the device's free and total memory in bytes.
func (c *Context) MemInfo() (free, total int64, err error) {
	if err := c.live("MemInfo"); err != nil {
		return 0, 0, err
	}
	free, total, r := c.lib().memGetInfo(c.h)
	return free, total, c.check("cuMemGetInfo_v2", r)
}

func (c *Context) lib() driverAPI { return c.dev.drv.lib }

// live fails once the context is released: its handle may then name a
// destroyed context.
func (c *Context) live(what string) error {
	if c.released.Load() {
		return fmt.Errorf("%w: %s on the released context of device %d", ErrReleased, what, c.dev.ordinal)
	}
	return nil
}

func (c *Context) check(call string, r Result) error { return check(c.lib(), call, r) }
