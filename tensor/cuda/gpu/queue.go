package gpu

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/tensor/cuda"
	"github.com/fdsm-go/fdsm/tensor/cuda/driver"
)

// handles maps the uintptr handles the cuda package sees to the driver's
// objects. Threading: safe for concurrent use.
type handles[K ~uintptr, V any] struct {
	mu   sync.Mutex
	m    map[K]V
	what string
}

func newHandles[K ~uintptr, V any](what string) *handles[K, V] {
	return &handles[K, V]{m: map[K]V{}, what: what}
}

func (h *handles[K, V]) put(k K, v V) K {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.m[k] = v
	return k
}

// get returns k's object; with remove, it also forgets it.
func (h *handles[K, V]) get(k K, remove bool) (V, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.m[k]
	if !ok {
		return v, fmt.Errorf("unknown %s %#x", h.what, uintptr(k))
	}
	if remove {
		delete(h.m, k)
	}
	return v, nil
}

func (d *device) stream(s cuda.Stream) (*driver.Stream, error) { return d.streams.get(s, false) }
func (d *device) event(e cuda.Event) (*driver.Event, error)    { return d.events.get(e, false) }

func (d *device) NewStream() (cuda.Stream, error) {
	st, err := d.ctx.NewStream(driver.StreamNonBlocking)
	if err != nil {
		return 0, err
	}
	return d.streams.put(cuda.Stream(st.Handle()), st), nil
}

func (d *device) DestroyStream(s cuda.Stream) error {
	st, err := d.streams.get(s, true)
	if err != nil {
		return err
	}
	return st.Destroy()
}

func (d *device) StreamSync(s cuda.Stream) error {
	st, err := d.stream(s)
	if err != nil {
		return err
	}
	return st.Synchronize()
}

// HostGate is not implemented over the driver yet (it needs
// cuStreamWaitValue32 on host-mapped memory); the backend then waits on the
// host for another backend's event, which is correct, only slower.
func (d *device) HostGate(cuda.Stream) (func(), error) { return nil, errors.ErrUnsupported }

func (d *device) NewEvent() (cuda.Event, error) {
	ev, err := d.ctx.NewEvent(driver.EventDisableTiming)
	if err != nil {
		return 0, err
	}
	return d.events.put(cuda.Event(ev.Handle()), ev), nil
}

func (d *device) DestroyEvent(e cuda.Event) error {
	ev, err := d.events.get(e, true)
	if err != nil {
		return err
	}
	return ev.Destroy()
}

func (d *device) RecordEvent(e cuda.Event, s cuda.Stream) error {
	ev, err := d.event(e)
	if err != nil {
		return err
	}
	st, err := d.stream(s)
	if err != nil {
		return err
	}
	return ev.Record(st)
}

func (d *device) StreamWaitEvent(s cuda.Stream, e cuda.Event) error {
	ev, err := d.event(e)
	if err != nil {
		return err
	}
	st, err := d.stream(s)
	if err != nil {
		return err
	}
	return st.WaitEvent(ev)
}

func (d *device) EventQuery(e cuda.Event) (bool, error) {
	ev, err := d.event(e)
	if err != nil {
		return false, err
	}
	return ev.Query()
}

func (d *device) EventSync(e cuda.Event) error {
	ev, err := d.event(e)
	if err != nil {
		return err
	}
	return ev.Synchronize()
}

func (d *device) CopyHtoD(dst cuda.Ptr, src []byte, s cuda.Stream) error {
	if len(src) == 0 {
		return nil
	}
	st, err := d.stream(s)
	if err != nil {
		return err
	}
	return st.CopyHtoD(driver.DevicePtr(dst), unsafe.Pointer(unsafe.SliceData(src)), len(src))
}

func (d *device) CopyDtoH(dst []byte, src cuda.Ptr, s cuda.Stream) error {
	if len(dst) == 0 {
		return nil
	}
	st, err := d.stream(s)
	if err != nil {
		return err
	}
	return st.CopyDtoH(unsafe.Pointer(unsafe.SliceData(dst)), driver.DevicePtr(src), len(dst))
}

func (d *device) CopyDtoD(dst, src cuda.Ptr, bytes int64, s cuda.Stream) error {
	st, err := d.stream(s)
	if err != nil {
		return err
	}
	return st.CopyDtoD(driver.DevicePtr(dst), driver.DevicePtr(src), int(bytes))
}

func (d *device) Memset(dst cuda.Ptr, value byte, bytes int64, s cuda.Stream) error {
	st, err := d.stream(s)
	if err != nil {
		return err
	}
	return st.Memset(driver.DevicePtr(dst), value, int(bytes))
}

func (d *device) Launch(kernel string, grid, block cuda.Dim3, args []uint64, s cuda.Stream) error {
	f, ok := d.fns[kernel]
	if !ok {
		return fmt.Errorf("%v: no kernel %s", d, kernel)
	}
	if want, ok := cuda.KernelWords(kernel); ok && want != len(args) {
		return fmt.Errorf("%v: kernel %s takes %d words, got %d", d, kernel, want, len(args))
	}
	st, err := d.stream(s)
	if err != nil {
		return err
	}
	dim := func(v cuda.Dim3) [3]uint32 {
		return [3]uint32{uint32(max(v.X, 1)), uint32(max(v.Y, 1)), uint32(max(v.Z, 1))}
	}
	return f.Launch(dim(grid), dim(block), 0, st, args)
}

// Gemm sets the handle's stream and issues the GEMM under one lock: the
// cuBLAS handle is shared by every stream of the device.
func (d *device) Gemm(g cuda.GemmOp, s cuda.Stream) error {
	st, err := d.stream(s)
	if err != nil {
		return err
	}
	op := func(t bool) driver.Op {
		if t {
			return driver.Trans
		}
		return driver.NoTrans
	}
	dg := driver.Gemm{TransA: op(g.TransA), TransB: op(g.TransB), M: g.M, N: g.N, K: g.K,
		A: driver.DevicePtr(g.A), LDA: g.LDA, StrideA: g.StrideA, B: driver.DevicePtr(g.B), LDB: g.LDB, StrideB: g.StrideB,
		C: driver.DevicePtr(g.C), LDC: g.LDC, StrideC: g.StrideC, Batch: max(g.Batch, 1)}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.blas.SetStream(st); err != nil {
		return err
	}
	switch {
	case g.DType == tensor.Float32 && dg.Batch > 1:
		return d.blas.SgemmStridedBatched(dg, float32(g.Alpha), float32(g.Beta))
	case g.DType == tensor.Float32:
		return d.blas.Sgemm(dg, float32(g.Alpha), float32(g.Beta))
	case dg.Batch > 1:
		return d.blas.DgemmStridedBatched(dg, g.Alpha, g.Beta)
	default:
		return d.blas.Dgemm(dg, g.Alpha, g.Beta)
	}
}

func (d *device) SetMathMode(m cuda.MathMode) error {
	mode := driver.MathPedantic
	if m == cuda.MathTF32 {
		mode = driver.MathTF32
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.blas.SetMathMode(mode)
}
