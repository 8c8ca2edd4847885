//go:build cgo

package emu

/*
#cgo CXXFLAGS: -O2 -std=c++17
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// The kernel registry (registry.cc) and GEMM (gemm.cc).
int emu_kernel_count(void);
const char *emu_kernel_name(int i);
size_t emu_kernel_bytes(int i);
void emu_launch(int i, int64_t gx, int64_t gy, int64_t gz, int64_t bx, int64_t by, int64_t bz, const uint64_t *words);
void emu_gemm(int f64, int ta, int tb, int64_t m, int64_t n, int64_t k, double alpha, uint64_t a, int64_t lda,
	int64_t sa, uint64_t b, int64_t ldb, int64_t sb, double beta, uint64_t c, int64_t ldc, int64_t sc,
	int64_t batch, int tf32);

static uint64_t emu_alloc(size_t n) {
	void *p = aligned_alloc(256, (n + 255) & ~(size_t)255);
	if (p != NULL) {
		memset(p, 0xff, n); // NaN in both dtypes: unwritten memory shows
	}
	return (uint64_t)(uintptr_t)p;
}
static void emu_free(uint64_t p) { free((void *)(uintptr_t)p); }
static void *emu_ptr(uint64_t p) { return (void *)(uintptr_t)p; }
static void emu_memcpy(uint64_t d, uint64_t s, size_t n) { memmove((void *)(uintptr_t)d, (void *)(uintptr_t)s, n); }
static void emu_memset(uint64_t d, int v, size_t n) { memset((void *)(uintptr_t)d, v, n); }
*/
import "C"

import (
	"fmt"
	"sort"
	"sync"
	"unsafe"

	"github.com/fdsm-go/fdsm/tensor/cuda"
)

// Options configure an emulated device; zero values take the defaults.
type Options struct {
	Ordinal         int
	Memory          int64 // bytes of device memory, default 1 GiB
	MultiProcessors int   // default 2, so launches are small grids
}

// Device is an emulated GPU. It is safe for concurrent use.
type Device struct {
	info cuda.Info

	mu      sync.Mutex
	used    int64
	allocs  []allocation // sorted by base
	streams map[cuda.Stream]*stream
	events  map[cuda.Event]*event
	next    uintptr // last handle given out
	sticky  error   // the context's failure
	tf32    bool
}

type allocation struct{ base, size int64 }

var _ cuda.Device = (*Device)(nil)

// Available reports whether this build has the emulator (it needs cgo).
const Available = true

// New returns an emulated device.
func New(opt Options) (*Device, error) {
	if opt.Memory <= 0 {
		opt.Memory = 1 << 30
	}
	if opt.MultiProcessors <= 0 {
		opt.MultiProcessors = 2
	}
	return &Device{
		info: cuda.Info{Name: "fdsm emulated CUDA device", Ordinal: opt.Ordinal, TotalMemory: opt.Memory,
			Major: 8, Minor: 0, MultiProcessors: opt.MultiProcessors, MaxThreadsPerBlock: 1024, MaxGridX: 1<<31 - 1},
		streams: make(map[cuda.Stream]*stream),
		events:  make(map[cuda.Event]*event),
	}, nil
}

// NewBackend returns a CUDA backend named "cuda-emu:<ordinal>" on a new
// emulated device.
func NewBackend(opt Options) (*cuda.Backend, error) {
	d, err := New(opt)
	if err != nil {
		return nil, err
	}
	return cuda.New(d, cuda.Options{Name: fmt.Sprintf("cuda-emu:%d", opt.Ordinal)})
}

func (d *Device) Info() cuda.Info { return d.info }

// failed returns the context's sticky failure, if any.
func (d *Device) failed() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sticky
}

func (d *Device) Alloc(bytes int64) (cuda.Ptr, error) {
	if err := d.failed(); err != nil {
		return 0, err
	}
	if bytes <= 0 {
		return 0, fmt.Errorf("cuda-emu: Alloc of %d bytes", bytes)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.used+bytes > d.info.TotalMemory {
		return 0, &cuda.OutOfMemoryError{Device: d.info.Name, Asked: bytes, Free: d.info.TotalMemory - d.used,
			Total: d.info.TotalMemory, PoolInUse: -1}
	}
	p := int64(C.emu_alloc(C.size_t(bytes)))
	if p == 0 {
		return 0, fmt.Errorf("cuda-emu: host allocation of %d bytes failed: %w", bytes, cuda.ErrOutOfMemory)
	}
	i := sort.Search(len(d.allocs), func(i int) bool { return d.allocs[i].base > p })
	d.allocs = append(d.allocs, allocation{})
	copy(d.allocs[i+1:], d.allocs[i:])
	d.allocs[i] = allocation{p, bytes}
	d.used += bytes
	return cuda.Ptr(p), nil
}

func (d *Device) Free(p cuda.Ptr) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	i := sort.Search(len(d.allocs), func(i int) bool { return d.allocs[i].base >= int64(p) })
	if i == len(d.allocs) || d.allocs[i].base != int64(p) {
		return fmt.Errorf("cuda-emu: Free of %#x, which Alloc did not return", uintptr(p))
	}
	d.used -= d.allocs[i].size
	d.allocs = append(d.allocs[:i], d.allocs[i+1:]...)
	C.emu_free(C.uint64_t(p))
	return nil
}

func (d *Device) MemInfo() (free, total int64, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.info.TotalMemory - d.used, d.info.TotalMemory, d.sticky
}

// span checks that [p, p+n) lies inside one allocation.
func (d *Device) span(what string, p cuda.Ptr, n int64) error {
	if n == 0 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	i := sort.Search(len(d.allocs), func(i int) bool { return d.allocs[i].base > int64(p) }) - 1
	if i < 0 || n < 0 || int64(p)+n > d.allocs[i].base+d.allocs[i].size {
		return fmt.Errorf("cuda-emu: %s of [%#x, +%d) is outside every allocation", what, uintptr(p), n)
	}
	return nil
}

// HostAlloc returns Go memory: "page-locked" here only means the copies
// treat it as asynchronous, and the race detector sees them.
func (d *Device) HostAlloc(bytes int) ([]byte, error) {
	if bytes <= 0 {
		return nil, fmt.Errorf("cuda-emu: HostAlloc of %d bytes", bytes)
	}
	return make([]byte, bytes), nil
}

func (d *Device) HostFree(b []byte) error { return nil }

// view is the Go slice over n bytes of device memory at p.
func view(p cuda.Ptr, n int64) []byte { return unsafe.Slice((*byte)(C.emu_ptr(C.uint64_t(p))), n) }

func (d *Device) CopyHtoD(dst cuda.Ptr, src []byte, s cuda.Stream) error {
	if err := d.span("CopyHtoD", dst, int64(len(src))); err != nil {
		return err
	}
	return d.enqueue(s, func() { copy(view(dst, int64(len(src))), src) })
}

func (d *Device) CopyDtoH(dst []byte, src cuda.Ptr, s cuda.Stream) error {
	if err := d.span("CopyDtoH", src, int64(len(dst))); err != nil {
		return err
	}
	return d.enqueue(s, func() { copy(dst, view(src, int64(len(dst)))) })
}

func (d *Device) CopyDtoD(dst, src cuda.Ptr, bytes int64, s cuda.Stream) error {
	if err := d.span("CopyDtoD destination", dst, bytes); err != nil {
		return err
	}
	if err := d.span("CopyDtoD source", src, bytes); err != nil {
		return err
	}
	return d.enqueue(s, func() { C.emu_memcpy(C.uint64_t(dst), C.uint64_t(src), C.size_t(bytes)) })
}

func (d *Device) Memset(dst cuda.Ptr, value byte, bytes int64, s cuda.Stream) error {
	if err := d.span("Memset", dst, bytes); err != nil {
		return err
	}
	return d.enqueue(s, func() { C.emu_memset(C.uint64_t(dst), C.int(value), C.size_t(bytes)) })
}

func (d *Device) SetMathMode(m cuda.MathMode) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tf32 = m == cuda.MathTF32
	return d.sticky
}
