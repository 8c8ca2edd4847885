package cuda

import (
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/fdsm-go/fdsm/tensor"
)

// Backend is tensor.Backend over a Device: one stream, a caching
// allocator, page-locked staging for host copies, and the kernels of
// kernels/*.cu plus the device's GEMM. It is safe for concurrent use (the
// rules of tensor/queue.go): every primitive validates its operands at the
// call, enqueues its work on the stream and returns.
//
// Failures: shape and dtype errors panic at the call; so does running out
// of device memory (an *OutOfMemoryError: Empty has no error result), as
// does a read that finds the device failed. Any other failure of a device
// call is kept and returned by the next Sync (and by events recorded after
// it).
type Backend struct {
	dev   Device
	name  string
	s     Stream
	block int   // threads per block
	grid  int64 // most blocks per launch

	alloc   *allocator
	staging *staging
	events  *eventPool

	mu     sync.Mutex
	seq    int64     // marks: Record and WaitFor each take one
	fails  []failure // the failures in order (the first maxFailures)
	synced int       // fails[:synced] were reported by Sync
	closed bool

	syncs, h2d, d2h atomic.Int64
}

var _ tensor.Backend = (*Backend)(nil)

// Options tune a Backend; zero values take the defaults.
type Options struct {
	Name      string // default "cuda:<ordinal>"
	BlockSize int    // threads per block, default 256
	MaxBlocks int    // blocks per launch, default 16 per multiprocessor
	// StagingChunk is the largest page-locked buffer one host copy uses
	// (bigger copies go in pieces); default 8 MiB.
	StagingChunk int
	// StagingCache bounds the page-locked memory kept for reuse; default
	// 64 MiB.
	StagingCache int
	// Lane marks a further backend on a device that already has one (a
	// lane: gpu.OpenLane, NCCL's stream): it leaves the device's GEMM math
	// mode as the first backend set it (--tf32) instead of resetting it.
	Lane bool
}

// New returns a backend on dev with a stream of its own.
func New(dev Device, opt Options) (*Backend, error) {
	info := dev.Info()
	if opt.Name == "" {
		opt.Name = fmt.Sprintf("cuda:%d", info.Ordinal)
	}
	opt.BlockSize = cmpOr(opt.BlockSize, min(256, max(1, info.MaxThreadsPerBlock)))
	opt.MaxBlocks = cmpOr(opt.MaxBlocks, 16*max(1, info.MultiProcessors))
	if info.MaxGridX > 0 {
		opt.MaxBlocks = min(opt.MaxBlocks, info.MaxGridX)
	}
	opt.StagingChunk = cmpOr(opt.StagingChunk, 8<<20)
	opt.StagingCache = cmpOr(opt.StagingCache, 64<<20)
	s, err := dev.NewStream()
	if err != nil {
		return nil, fmt.Errorf("%s: creating a stream: %w", opt.Name, err)
	}
	if !opt.Lane {
		if err := dev.SetMathMode(MathFP32); err != nil {
			return nil, fmt.Errorf("%s: setting the GEMM math mode: %w", opt.Name, err)
		}
	}
	b := &Backend{dev: dev, name: opt.Name, s: s, block: opt.BlockSize, grid: int64(opt.MaxBlocks)}
	b.events = &eventPool{dev: dev}
	b.alloc = newAllocator(b)
	b.staging = newStaging(b, opt.StagingChunk, opt.StagingCache)
	return b, nil
}

func cmpOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// Name returns the backend's name, e.g. "cuda:0".
func (b *Backend) Name() string { return b.name }

// Device returns the device the backend runs on.
func (b *Backend) Device() Device { return b.dev }

// Stream returns the backend's stream, for libraries that enqueue on it
// (NCCL): their work is then ordered with the backend's.
func (b *Backend) Stream() Stream { return b.s }

// SetMathMode chooses the arithmetic of float32 GEMMs (MathFP32 by
// default; the conformance suite's tolerances rule out MathTF32).
func (b *Backend) SetMathMode(m MathMode) error { return b.dev.SetMathMode(m) }

// Close waits for the queue, then frees the backend's device memory (the
// pool's, and that of tensors still held, which become unusable), its
// staging, events and stream. It returns Sync's result, or the first
// failure to free.
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	err := b.Sync()
	for _, e := range []error{b.alloc.freeAll(), b.staging.freeAll(), b.events.freeAll(), b.dev.DestroyStream(b.s)} {
		if err == nil {
			err = e
		}
	}
	return err
}

// buffer is a device tensor's handle.
type buffer struct {
	be    *Backend
	ptr   Ptr
	class int64          // bytes reserved (the allocator's size class)
	owner *tensor.Tensor // the tensor Empty returned: only it releases the memory
}

// Ptr returns the device address of t's elements, for libraries that
// work on device memory themselves (NCCL). Their work must be enqueued on
// Stream, after the work that wrote t. t must be this backend's.
func (b *Backend) Ptr(t *tensor.Tensor) Ptr { return b.ptr(t) }

// ptr returns the device address of t, which must be this backend's; a
// host tensor, another backend's or nil panics naming the caller.
func (b *Backend) ptr(t *tensor.Tensor) Ptr {
	if t == nil {
		panic(fmt.Sprintf("%s: nil tensor (%s)", b.name, caller()))
	}
	h, ok := t.DeviceHandle().(*buffer)
	if !ok || h.be != b {
		where := "host memory"
		if ok {
			where = h.be.name
		} else if !t.IsHost() {
			where = t.Backend().Name()
		}
		panic(fmt.Sprintf("%s: given a tensor %v that lives in %s (%s)", b.name, t.Shape(), where, caller()))
	}
	return h.ptr
}

// caller names the first frame outside this package and package tensor
// (tests excepted): the code that made the bad call.
func caller() string {
	pc := make([]uintptr, 16)
	frames := runtime.CallersFrames(pc[:runtime.Callers(3, pc)])
	for {
		f, more := frames.Next()
		dir, file := filepath.Split(f.File)
		engine := strings.HasSuffix(dir, "/tensor/cuda/") || strings.HasSuffix(dir, "/tensor/") ||
			strings.HasPrefix(f.Function, "runtime.")
		if !engine || strings.HasSuffix(file, "_test.go") {
			return fmt.Sprintf("%s:%d", f.File, f.Line)
		}
		if !more {
			return "unknown caller"
		}
	}
}

// suffix names a kernel's dtype variant.
func suffix(dt tensor.DType) string {
	if dt == tensor.Float32 {
		return "_f32"
	}
	return "_f64"
}

// launch enqueues kernel over items work items (a grid-stride loop covers
// any grid, so the grid is simply capped); nothing runs for 0 items.
func (b *Backend) launch(kernel string, items int64, args ...uint64) {
	if want, ok := KernelWords(kernel); !ok || want != len(args) {
		panic(fmt.Sprintf("cuda: kernel %s given %d argument words, want %d", kernel, len(args), want))
	}
	if items <= 0 {
		return
	}
	blocks := min((items+int64(b.block)-1)/int64(b.block), b.grid)
	b.check(b.dev.Launch(kernel, Dim3{int(blocks), 1, 1}, Dim3{b.block, 1, 1}, args, b.s))
}

// single enqueues a one-thread kernel.
func (b *Backend) single(kernel string, args ...uint64) {
	if want, ok := KernelWords(kernel); !ok || want != len(args) {
		panic(fmt.Sprintf("cuda: kernel %s given %d argument words, want %d", kernel, len(args), want))
	}
	b.check(b.dev.Launch(kernel, Dim3{1, 1, 1}, Dim3{1, 1, 1}, args, b.s))
}

// f64 packs a float64 argument word.
func f64(v float64) uint64 { return math.Float64bits(v) }

// i64 packs an integer argument word.
func i64(v int) uint64 { return uint64(int64(v)) }

// flag packs a bool argument word.
func flag(v bool) uint64 {
	if v {
		return 1
	}
	return 0
}
