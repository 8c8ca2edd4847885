package cuda

import (
	"errors"
	"fmt"

	"github.com/fdsm-go/fdsm/tensor"
)

// Device is the backend's only view of a GPU: memory, copies, streams and
// events, kernel launches and cuBLAS GEMMs, in the terms of the CUDA driver
// API (one context, the primary one). Two implementations: the real one
// over the driver binding (tensor/cuda/driver, written against this
// contract), and the emulated one of tensor/cuda/emu, which runs the same
// kernel sources on the host.
//
// Threading: every method is safe for concurrent use from any goroutine.
// An implementation over the driver makes its context current inside each
// call (goroutines move between OS threads). Work enqueued on one stream by
// one goroutine runs in the order of its calls; calls that race on one
// stream from several goroutines run in some order (the Backend only relies
// on each goroutine's own order, and on events).
//
// Asynchrony: the methods taking a Stream enqueue and return; their error
// reports only what fails at the call (a bad argument, an unknown kernel, a
// context already broken). A failure while the work runs (a kernel fault)
// breaks the context, as CUDA's sticky errors do: EventSync, EventQuery and
// StreamSync report it, and every call after that may return it.
type Device interface {
	// Info describes the device.
	Info() Info

	// Alloc reserves bytes > 0 of device memory, aligned to at least 256
	// bytes (cuMemAlloc). Out of memory returns an error wrapping
	// ErrOutOfMemory (an *OutOfMemoryError where the sizes are known).
	Alloc(bytes int64) (Ptr, error)
	// Free returns memory from Alloc (cuMemFree). The caller guarantees
	// that no queued work still uses it (it synchronises its streams
	// first), since the driver may hand the memory out again at once.
	Free(p Ptr) error
	// MemInfo reports the free and total device memory (cuMemGetInfo).
	MemInfo() (free, total int64, err error)

	// HostAlloc returns bytes > 0 of page-locked host memory
	// (cuMemHostAlloc), which copies read and write asynchronously. The
	// slice stays valid until HostFree.
	HostAlloc(bytes int) ([]byte, error)
	// HostFree releases memory from HostAlloc; no queued copy may still
	// use it.
	HostFree(b []byte) error

	// CopyHtoD enqueues a copy of src into dst on s (cuMemcpyHtoDAsync).
	// src must be (a part of) HostAlloc memory and must not be written
	// until the copy has run (an event recorded after it has completed).
	CopyHtoD(dst Ptr, src []byte, s Stream) error
	// CopyDtoH enqueues a copy of len(dst) bytes from src into dst, which
	// must be HostAlloc memory; dst holds the data once the stream has
	// reached the copy (cuMemcpyDtoHAsync).
	CopyDtoH(dst []byte, src Ptr, s Stream) error
	// CopyDtoD enqueues a copy of bytes between device addresses on s
	// (cuMemcpyDtoDAsync). The ranges must not overlap.
	CopyDtoD(dst, src Ptr, bytes int64, s Stream) error
	// Memset enqueues setting bytes bytes at dst to value (cuMemsetD8Async).
	Memset(dst Ptr, value byte, bytes int64, s Stream) error

	// NewStream creates a stream that does not synchronise with the legacy
	// default stream (CU_STREAM_NON_BLOCKING).
	NewStream() (Stream, error)
	// DestroyStream destroys s; work already enqueued on it still runs.
	DestroyStream(s Stream) error
	// StreamSync blocks until the work enqueued on s has run, and returns
	// the context's failure if there is one (cuStreamSynchronize).
	StreamSync(s Stream) error
	// HostGate enqueues a gate on s: work enqueued on s after it waits
	// until open is called, from any goroutine, once (later calls do
	// nothing). The caller blocks neither here nor in open. This is how a
	// stream waits for something only the host sees (another backend's
	// event). Over the driver: cuStreamWaitValue32 (GEQ) on a word of
	// page-locked host memory mapped into the device
	// (cuMemHostGetDevicePointer) that open sets. An implementation
	// without one returns an error (errors.ErrUnsupported); the backend
	// then blocks the host until the event instead, which is correct but
	// slower.
	HostGate(s Stream) (open func(), err error)

	// NewEvent creates an event without timing (CU_EVENT_DISABLE_TIMING).
	NewEvent() (Event, error)
	// DestroyEvent destroys e; a record still pending completes anyway.
	DestroyEvent(e Event) error
	// RecordEvent marks in e the work enqueued on s so far (cuEventRecord);
	// recording again moves the mark.
	RecordEvent(e Event, s Stream) error
	// StreamWaitEvent makes the work enqueued on s after this call wait
	// until the mark e holds now has completed, without blocking the caller
	// (cuStreamWaitEvent). An event never recorded is complete.
	StreamWaitEvent(s Stream, e Event) error
	// EventQuery reports, without blocking, whether e's mark has completed
	// (an event never recorded has), and the context's failure if there is
	// one (cuEventQuery).
	EventQuery(e Event) (done bool, err error)
	// EventSync blocks until e's mark has completed and returns the
	// context's failure if there is one (cuEventSynchronize).
	EventSync(e Event) error

	// Launch enqueues kernel on s with the given grid and block and no
	// shared memory (cuLaunchKernel). args is the kernel's one parameter,
	// a struct of 8-byte words (KernelWords gives the count; a mismatch is
	// an error). The implementation copies the words into C memory before
	// the call (kernelParams = one pointer to them, or the extra array's
	// CU_LAUNCH_PARAM_BUFFER_POINTER/SIZE) and may reuse nothing of args
	// after it returns. Kernels are the functions of the modules in
	// Modules, looked up by name once.
	Launch(kernel string, grid, block Dim3, args []uint64, s Stream) error

	// Gemm enqueues a column-major GEMM on s, as cuBLAS's
	// cublas{S,D}gemm_v2, or cublas{S,D}gemmStridedBatched when g.Batch > 1.
	// A cuBLAS handle's stream and math mode are shared by its callers, so
	// the implementation serialises cublasSetStream(s) with the GEMM call.
	Gemm(g GemmOp, s Stream) error
	// SetMathMode chooses how float32 GEMMs may compute
	// (cublasSetMathMode); it applies to GEMMs enqueued after the call.
	SetMathMode(m MathMode) error
}

// Ptr is a device address (CUdeviceptr); 0 is no memory.
type Ptr uintptr

// Add returns p advanced by bytes.
func (p Ptr) Add(bytes int64) Ptr { return p + Ptr(bytes) }

// Stream is a stream handle (CUstream). The same value serves NCCL, whose
// collectives take a cudaStream_t as uintptr.
type Stream uintptr

// Event is an event handle (CUevent).
type Event uintptr

// Dim3 is a launch grid or block shape.
type Dim3 struct{ X, Y, Z int }

// Info describes a device.
type Info struct {
	Name               string // e.g. "NVIDIA H100 80GB HBM3"
	Ordinal            int    // the N of cuda:N
	TotalMemory        int64  // bytes
	Major, Minor       int    // compute capability
	MultiProcessors    int
	MaxThreadsPerBlock int
	MaxGridX           int // largest grid.X
}

// MathMode selects the arithmetic of float32 GEMMs.
type MathMode int

const (
	// MathFP32 computes float32 GEMMs in float32 (CUBLAS_DEFAULT_MATH).
	// The backend's default: the conformance suite holds float32 GEMMs to
	// float32 accuracy.
	MathFP32 MathMode = iota
	// MathTF32 lets float32 GEMMs round their operands to TF32 on tensor
	// cores (CUBLAS_TF32_TENSOR_OP_MATH): much faster, about 3 decimal
	// digits per product.
	MathTF32
)

// GemmOp is one column-major GEMM, or a strided batch of them:
// C = Alpha·op(A)·op(B) + Beta·C with op(A) M×K, op(B) K×N and C M×N, entry
// i of a batch at A + i·StrideA (elements; 0 shares one operand). Beta == 0
// overwrites C without reading it. The backend never asks for M, N or K
// of 0.
type GemmOp struct {
	DType          tensor.DType // Float32 (S) or Float64 (D)
	TransA, TransB bool         // CUBLAS_OP_T for the operand
	M, N, K        int
	Alpha, Beta    float64 // rounded to float32 for Float32
	A              Ptr
	LDA            int
	StrideA        int64
	B              Ptr
	LDB            int
	StrideB        int64
	C              Ptr
	LDC            int
	StrideC        int64
	Batch          int // at least 1
}

// ErrOutOfMemory is wrapped by every out-of-memory error of a Device and
// of the Backend.
var ErrOutOfMemory = errors.New("out of device memory")

// OutOfMemoryError reports a failed allocation with the sizes involved.
type OutOfMemoryError struct {
	Device     string
	Asked      int64 // bytes asked for
	Free       int64 // bytes the device reported free (-1 if unknown)
	Total      int64 // device memory (-1 if unknown)
	PoolInUse  int64 // the backend's pool: bytes handed out, -1 from a device
	PoolCached int64 // bytes it had cached (and freed before the last try)
}

func (e *OutOfMemoryError) Error() string {
	s := fmt.Sprintf("%s: out of memory: asked for %d bytes, %d free of %d", e.Device, e.Asked, e.Free, e.Total)
	if e.PoolInUse >= 0 {
		s += fmt.Sprintf(" (pool: %d bytes in use, %d cached were freed first)", e.PoolInUse, e.PoolCached)
	}
	return s
}

func (e *OutOfMemoryError) Unwrap() error { return ErrOutOfMemory }
