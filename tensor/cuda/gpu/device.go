// Package gpu is the CUDA backend on a real GPU: cuda.Device implemented
// over the driver binding (package tensor/cuda/driver: libcuda and cuBLAS
// loaded at run time), and Open, which gives the tensor.Backend of cuda:N.
//
// Status: this package has NOT yet run on a GPU. The backend logic and the
// kernels above it pass the conformance suite on the emulated device
// (package tensor/cuda/emu), and the driver binding its tests against fake
// libraries; what is left unverified is this adapter, the PTX on a real
// driver, and cuBLAS. TestConformanceOnGPU runs the suite here when a GPU
// is present (tools/gpu/check.sh).
package gpu

import (
	"errors"
	"fmt"
	"regexp"
	"sync"
	"unsafe"

	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/tensor/cuda"
	"github.com/fdsm-go/fdsm/tensor/cuda/driver"
)

// The CUdevice_attribute values Info reads beyond driver.DeviceInfo
// (cuda.h 12/13).
const (
	attrMaxThreadsPerBlock driver.Attribute = 1
	attrMaxGridDimX        driver.Attribute = 5
)

// device is cuda.Device over the primary context of one GPU.
//
// Threading: safe for concurrent use. The driver binding makes the context
// current inside each call; the pinned-memory map and the cuBLAS handle
// (whose stream is set before each GEMM) are guarded by mu.
type device struct {
	info cuda.Info
	ctx  *driver.Context
	fns  map[string]*driver.Function

	streams *handles[cuda.Stream, *driver.Stream]
	events  *handles[cuda.Event, *driver.Event]

	mu     sync.Mutex
	blas   *driver.Blas
	pinned map[uintptr]driver.HostBuffer
}

// newDevice opens GPU ordinal: the driver, its primary context, the
// kernels' modules and a cuBLAS handle.
func newDevice(ordinal int) (*device, error) {
	drv, err := driver.Open()
	if err != nil {
		return nil, err
	}
	n, err := drv.DeviceCount()
	if err != nil {
		return nil, err
	}
	if ordinal >= n {
		return nil, fmt.Errorf("cuda:%d: this machine has %d GPUs", ordinal, n)
	}
	dev, err := drv.Device(ordinal)
	if err != nil {
		return nil, err
	}
	di, err := dev.Info()
	if err != nil {
		return nil, err
	}
	d := &device{fns: map[string]*driver.Function{}, streams: newHandles[cuda.Stream, *driver.Stream]("stream"),
		events: newHandles[cuda.Event, *driver.Event]("event"), pinned: map[uintptr]driver.HostBuffer{}}
	d.info = cuda.Info{Name: di.Name, Ordinal: ordinal, TotalMemory: di.TotalMem, Major: di.Major, Minor: di.Minor,
		MultiProcessors: di.Multiprocessors}
	if d.info.MaxThreadsPerBlock, err = dev.Attribute(attrMaxThreadsPerBlock); err != nil {
		return nil, err
	}
	if d.info.MaxGridX, err = dev.Attribute(attrMaxGridDimX); err != nil {
		return nil, err
	}
	if d.ctx, err = dev.RetainPrimary(); err != nil {
		return nil, err
	}
	if err := d.loadKernels(); err != nil {
		return nil, err
	}
	if d.blas, err = d.ctx.NewBlas(); err != nil {
		return nil, err
	}
	return d, nil
}

// loadKernels loads every PTX module (the driver JIT-compiles it for this
// GPU) and finds each kernel by the name the .cu source gives it.
func (d *device) loadKernels() error {
	for _, m := range cuda.Modules() {
		mod, err := d.ctx.LoadModule(string(m.PTX)) // the binding passes a NUL-terminated copy
		if err != nil {
			return fmt.Errorf("loading kernels %s: %w", m.Name, err)
		}
		for _, name := range entries(m.PTX) {
			f, err := mod.Function(name)
			if err != nil {
				return fmt.Errorf("kernel %s in %s: %w", name, m.Name, err)
			}
			d.fns[name] = f
		}
	}
	return nil
}

// entries lists the kernels a PTX module defines (its .entry lines).
func entries(ptx []byte) []string {
	var names []string
	for _, m := range entryRE.FindAllSubmatch(ptx, -1) {
		names = append(names, string(m[1]))
	}
	return names
}

var entryRE = regexp.MustCompile(`(?m)^\.visible \.entry (\w+)\(`)

func (d *device) Info() cuda.Info { return d.info }

func (d *device) Alloc(bytes int64) (cuda.Ptr, error) {
	p, err := d.ctx.Alloc(int(bytes))
	if errors.Is(err, driver.ErrOutOfMemory) {
		free, total, _ := d.ctx.MemInfo()
		return 0, &cuda.OutOfMemoryError{Device: fmt.Sprintf("cuda:%d", d.info.Ordinal), Asked: bytes, Free: free, Total: total,
			PoolInUse: -1, PoolCached: -1}
	}
	return cuda.Ptr(p), err
}

func (d *device) Free(p cuda.Ptr) error { return d.ctx.Free(driver.DevicePtr(p)) }

func (d *device) MemInfo() (free, total int64, err error) { return d.ctx.MemInfo() }

func (d *device) HostAlloc(bytes int) ([]byte, error) {
	h, err := d.ctx.AllocHost(bytes)
	if err != nil {
		return nil, err
	}
	b := h.Bytes()
	d.mu.Lock()
	d.pinned[uintptr(unsafe.Pointer(unsafe.SliceData(b)))] = h
	d.mu.Unlock()
	return b, nil
}

func (d *device) HostFree(b []byte) error {
	key := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	d.mu.Lock()
	h, ok := d.pinned[key]
	delete(d.pinned, key)
	d.mu.Unlock()
	if !ok {
		return fmt.Errorf("cuda:%d: HostFree of memory HostAlloc did not return", d.info.Ordinal)
	}
	return d.ctx.FreeHost(h)
}

// String names the device in errors.
func (d *device) String() string { return fmt.Sprintf("cuda:%d (%s)", d.info.Ordinal, d.info.Name) }

// backends caches one backend per GPU for the process.
var backends = struct {
	sync.Mutex
	m map[int]*cuda.Backend
}{m: map[int]*cuda.Backend{}}

// Open returns the backend of GPU ordinal (cuda:N), the same one every
// time. Without a driver the error matches driver.ErrNoDriver and names
// every place libcuda.so.1 was looked for.
func Open(ordinal int) (tensor.Backend, error) {
	backends.Lock()
	defer backends.Unlock()
	if b, ok := backends.m[ordinal]; ok {
		return b, nil
	}
	d, err := newDevice(ordinal)
	if err != nil {
		return nil, err
	}
	b, err := cuda.New(d, cuda.Options{})
	if err != nil {
		return nil, err
	}
	backends.m[ordinal] = b
	return b, nil
}

// lanes caches the extra backends of OpenLane, by ordinal and lane.
var lanes = struct {
	sync.Mutex
	m map[[2]int]*cuda.Backend
}{m: map[[2]int]*cuda.Backend{}}

// OpenLane returns lane of GPU ordinal: lane 0 is Open's backend, lane
// k > 0 another backend on the same GPU with a stream, caching allocator
// and staging of its own, named "cuda:N/k". Lanes stand in for the
// devices of a group on one GPU (fdsm bench fdpar --devices
// cuda:0,cuda:0,cuda:0): their work runs concurrently on the GPU and moves
// between them as between devices.
func OpenLane(ordinal, lane int) (tensor.Backend, error) {
	if lane < 0 {
		return nil, fmt.Errorf("cuda:%d: lane %d is negative", ordinal, lane)
	}
	first, err := Open(ordinal)
	if err != nil || lane == 0 {
		return first, err
	}
	lanes.Lock()
	defer lanes.Unlock()
	if b, ok := lanes.m[[2]int{ordinal, lane}]; ok {
		return b, nil
	}
	b, err := cuda.New(first.(*cuda.Backend).Device(), cuda.Options{Name: fmt.Sprintf("cuda:%d/%d", ordinal, lane), Lane: true})
	if err != nil {
		return nil, err
	}
	lanes.m[[2]int{ordinal, lane}] = b
	return b, nil
}

var _ cuda.Device = (*device)(nil)
