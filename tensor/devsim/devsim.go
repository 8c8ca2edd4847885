// Package devsim is a strict simulated device: a tensor.Backend that runs
// the CPU kernels, but the way a GPU would. Its tensors expose no host
// memory (only a device handle; Float32s and Float64s panic), every
// primitive is enqueued and executed in order by the device's own
// goroutine, and the host sees results only through the declared copies
// (Read*, and Item, ToFloat64s, HasNonFinite built on them), which wait for
// the queue and are counted. Code that is correct on devsim therefore needs
// no host memory on the hot path, orders its work with events, and has its
// host synchronisations and copies counted (TransferStats); code that reads
// a result too early races with the device goroutine, which -race reports.
//
// Results are the CPU backend's bit for bit (the same kernels, the same
// Philox draws), so training on devsim and on the CPU gives identical
// checkpoints.
package devsim

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/fdsm-go/fdsm/tensor"
)

// Device is one simulated device. It is safe for concurrent use (see the
// threading rules in tensor/queue.go). Close stops its goroutine.
type Device struct {
	name string
	// mem is the pool that plays device memory: the host hands it out and
	// takes it back (Empty, Release) in stream order. cpu runs the kernels,
	// with a pool of its own for their scratch: a kernel allocates when it
	// runs, and taking scratch from mem could hand it a buffer released by
	// the host whose queued work has not run yet.
	mem   *tensor.CPU
	cpu   *tensor.CPU
	queue chan func()

	mu     sync.Mutex
	err    error // first failure since the last Sync
	closed bool

	syncs, h2d, d2h atomic.Int64
}

var _ tensor.Backend = (*Device)(nil)

// buffer is a device tensor's handle: the host array the kernels run on,
// reachable only through the device that made it.
type buffer struct {
	dev   *Device
	t     *tensor.Tensor
	owner *tensor.Tensor // the tensor Empty returned: only it releases the memory
}

// New starts a simulated device named name (for example "devsim:0").
func New(name string) *Device {
	d := &Device{name: name, mem: tensor.NewCPU(), cpu: tensor.NewCPU(), queue: make(chan func(), 4096)}
	go d.run()
	return d
}

// run executes the queue in order. A kernel that panics fails the device:
// the failure is kept for Sync and for the events recorded after it.
func (d *Device) run() {
	for f := range d.queue {
		d.exec(f)
	}
}

func (d *Device) exec(f func()) {
	defer func() {
		if r := recover(); r != nil {
			d.fail(fmt.Errorf("devsim %s: kernel failed: %v", d.name, r))
		}
	}()
	f()
}

func (d *Device) fail(err error) {
	d.mu.Lock()
	if d.err == nil {
		d.err = err
	}
	d.mu.Unlock()
}

// enqueue adds f to the queue.
func (d *Device) enqueue(f func()) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		panic(fmt.Sprintf("devsim %s: used after Close", d.name))
	}
	d.mu.Unlock()
	d.queue <- f
}

// Close waits for the queued work and stops the device's goroutine.
func (d *Device) Close() error {
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return nil
	}
	err := d.Sync()
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		close(d.queue)
	}
	d.mu.Unlock()
	return err
}

// in returns the host array of device tensor t, viewed in t's shape. A host
// tensor, another device's tensor or a nil one panics with the call site.
func (d *Device) in(t *tensor.Tensor) *tensor.Tensor {
	if t == nil {
		panic("devsim: nil tensor")
	}
	b, ok := t.DeviceHandle().(*buffer)
	if !ok || b.dev != d {
		where := "host memory"
		if ok {
			where = b.dev.name
		}
		panic(fmt.Sprintf("devsim %s: given a tensor %v that lives in %s (%s)", d.name, t.Shape(), where, caller()))
	}
	// A header of its own: the pool reuses b.t's header for the next
	// tensor once t is released, while this call's work may still be queued.
	return b.t.Reshape(t.Shape()...)
}

func (d *Device) ins(ts []*tensor.Tensor) []*tensor.Tensor {
	out := make([]*tensor.Tensor, len(ts))
	for i, t := range ts {
		out[i] = d.in(t)
	}
	return out
}

// caller names the first frame outside the engine (this package and
// package tensor, tests excepted): the code that made the bad call.
func caller() string {
	pc := make([]uintptr, 16)
	n := runtime.Callers(3, pc)
	frames := runtime.CallersFrames(pc[:n])
	for {
		f, more := frames.Next()
		dir, file := filepath.Split(f.File)
		engine := strings.HasSuffix(dir, "/tensor/devsim/") || strings.HasSuffix(dir, "/tensor/") ||
			strings.HasPrefix(f.Function, "runtime.")
		if !engine || strings.HasSuffix(file, "_test.go") {
			return fmt.Sprintf("%s:%d", f.File, f.Line)
		}
		if !more {
			return "unknown caller"
		}
	}
}

func (d *Device) Name() string { return d.name }

// Empty reserves device memory at once (like a stream-ordered allocator,
// the pointer exists before any work uses it).
func (d *Device) Empty(dt tensor.DType, shape ...int) *tensor.Tensor {
	h := d.mem.Empty(dt, shape...)
	b := &buffer{dev: d, t: h}
	b.owner = tensor.NewDeviceTensor(d, dt, h.Shape(), b)
	return b.owner
}

func (d *Device) Zeros(dt tensor.DType, shape ...int) *tensor.Tensor {
	t := d.Empty(dt, shape...)
	d.Fill(t, 0)
	return t
}

// Release returns the memory to the pool at once, as a stream-ordered
// allocator does: the work already enqueued on it runs before anything
// enqueued later, and only this device's queue touches it.
func (d *Device) Release(t *tensor.Tensor) {
	if t == nil {
		return
	}
	b, ok := t.DeviceHandle().(*buffer)
	if !ok || b.dev != d || t != b.owner {
		return // not from Empty (a view, or another backend's): a no-op, as on the CPU
	}
	b.owner = nil // a second Release is a no-op too
	d.mem.Release(b.t)
}

func (d *Device) MemStats() tensor.MemStats { return d.mem.MemStats() }
func (d *Device) ResetPeak()                { d.mem.ResetPeak() }

func (d *Device) Transfers() tensor.TransferStats {
	return tensor.TransferStats{HostSyncs: d.syncs.Load(), H2DBytes: d.h2d.Load(), D2HBytes: d.d2h.Load()}
}

// Record enqueues an event; it completes, with the device's failure if
// any, when the work before it has run.
func (d *Device) Record() tensor.Event {
	e := tensor.NewPendingEvent()
	d.enqueue(func() {
		d.mu.Lock()
		err := d.err
		d.mu.Unlock()
		e.Complete(err)
	})
	return e
}

// WaitFor enqueues a wait: the device goroutine, not the caller, blocks.
func (d *Device) WaitFor(e tensor.Event) {
	d.enqueue(func() {
		if err := e.Wait(); err != nil {
			d.fail(fmt.Errorf("devsim %s: waited for a failed event: %w", d.name, err))
		}
	})
}

// Sync waits for the queue and returns the first failure since the last
// Sync.
func (d *Device) Sync() error {
	d.syncs.Add(1)
	d.drain()
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.err
	d.err = nil
	return err
}

// drain blocks until the work enqueued before it has run.
func (d *Device) drain() {
	done := make(chan struct{})
	d.enqueue(func() { close(done) })
	<-done
}

// hostWait blocks the caller until the queue has run (a host
// synchronisation) and panics with the device's failure, since a read
// cannot return data a failed kernel should have written.
func (d *Device) hostWait() {
	d.syncs.Add(1)
	d.drain()
	d.mu.Lock()
	err := d.err
	d.mu.Unlock()
	if err != nil {
		panic(fmt.Sprintf("%v (read at %s)", err, caller()))
	}
}

// The writes copy the host slice before returning (a staging buffer, as a
// copy from pageable memory does), then enqueue the copy to the device.

func (d *Device) WriteFloat32s(dst *tensor.Tensor, src []float32) {
	tensor.CheckWrite("WriteFloat32s", dst, tensor.Float32, len(src), false)
	x, stage := d.in(dst), append([]float32(nil), src...)
	d.h2d.Add(int64(4 * len(src)))
	d.enqueue(func() { d.cpu.WriteFloat32s(x, stage) })
}

func (d *Device) WriteFloat64s(dst *tensor.Tensor, src []float64) {
	tensor.CheckWrite("WriteFloat64s", dst, tensor.Float64, len(src), false)
	x, stage := d.in(dst), append([]float64(nil), src...)
	d.h2d.Add(int64(8 * len(src)))
	d.enqueue(func() { d.cpu.WriteFloat64s(x, stage) })
}

func (d *Device) WriteBytes(dst *tensor.Tensor, src []byte) {
	tensor.CheckWrite("WriteBytes", dst, dst.DType(), len(src), true)
	x, stage := d.in(dst), append([]byte(nil), src...)
	d.h2d.Add(int64(len(src)))
	d.enqueue(func() { d.cpu.WriteBytes(x, stage) })
}

// The reads enqueue the copy and wait for it.

func (d *Device) ReadFloat32s(dst []float32, src *tensor.Tensor) {
	tensor.CheckRead("ReadFloat32s", src, tensor.Float32, len(dst), false)
	x := d.in(src)
	d.enqueue(func() { copy(dst, x.Float32s()) })
	d.hostWait()
	d.d2h.Add(int64(4 * len(dst)))
}

func (d *Device) ReadFloat64s(dst []float64, src *tensor.Tensor) {
	tensor.CheckRead("ReadFloat64s", src, tensor.Float64, len(dst), false)
	x := d.in(src)
	d.enqueue(func() { copy(dst, x.Float64s()) })
	d.hostWait()
	d.d2h.Add(int64(8 * len(dst)))
}

func (d *Device) ReadBytes(dst []byte, src *tensor.Tensor) {
	tensor.CheckRead("ReadBytes", src, src.DType(), len(dst), true)
	x := d.in(src)
	d.enqueue(func() { d.cpu.ReadBytes(dst, x) })
	d.hostWait()
	d.d2h.Add(int64(len(dst)))
}
