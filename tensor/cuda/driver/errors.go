package driver

import (
	"errors"
	"fmt"
)

// Result is CUresult, the driver's status code.
type Result int

// CUresult values this package or its callers test for (cuda.h 12.9/13.0).
const (
	Success        Result = 0
	InvalidValue   Result = 1
	OutOfMemory    Result = 2
	NotInitialized Result = 3
	NoDevice       Result = 100
	InvalidContext Result = 201
	NotFound       Result = 500
	NotReady       Result = 600
)

// ctxFailedBit marks a Result (or BlasStatus) that came from the
// cuCtxSetCurrent a shim wrapper makes before its call (shim.h).
const ctxFailedBit = 0x100000

var (
	// ErrNoDriver matches errors saying there is no usable libcuda.so.1 here:
	// none could be loaded (a *LoadError), or the package was built without
	// cgo. A command can answer it with "no GPU here" (exit 2).
	ErrNoDriver = errors.New("cuda: no CUDA driver")
	// ErrInit matches a failed cuInit: the driver loaded but cannot run,
	// most often with NoDevice (no GPU, or none visible to this process).
	ErrInit = errors.New("cuda: cuInit failed")
	// ErrNoBLAS matches errors saying no cuBLAS could be loaded.
	ErrNoBLAS = errors.New("cuda: no cuBLAS")
	// ErrOutOfMemory matches allocation failures of the driver (an *Error
	// with OutOfMemory, carrying the bytes asked) and of cuBLAS.
	ErrOutOfMemory = errors.New("cuda: out of memory")
	// ErrReleased is returned by calls on a released Context or on an
	// object already destroyed.
	ErrReleased = errors.New("cuda: used after release")
)

// errNoCgo: the driver is reached through a cgo shim (dlopen), absent in a
// build with CGO_ENABLED=0. It matches ErrNoDriver.
var errNoCgo = fmt.Errorf("%w: built without cgo (CGO_ENABLED=0), so libcuda.so.1 "+
	"cannot be loaded; rebuild with CGO_ENABLED=1 and a C compiler", ErrNoDriver)

// Error is a failure the CUDA driver reported.
type Error struct {
	Call  string // the driver function, e.g. "cuMemAlloc_v2"
	Code  Result
	Name  string // cuGetErrorName, e.g. "CUDA_ERROR_OUT_OF_MEMORY"; may be ""
	Text  string // cuGetErrorString; may be ""
	Bytes int64  // the size asked, for allocations; else 0
}

func (e *Error) Error() string {
	s := "cuda: " + e.Call
	if e.Bytes > 0 {
		s += fmt.Sprintf(" of %d bytes", e.Bytes)
	}
	if e.Name != "" {
		s += fmt.Sprintf(": %s (%d)", e.Name, int(e.Code))
	} else {
		s += fmt.Sprintf(": CUresult %d", int(e.Code))
	}
	if e.Text != "" {
		s += ": " + e.Text
	}
	return s
}

// Is makes errors.Is(err, ErrOutOfMemory) and errors.Is(err, ErrInit) work.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrOutOfMemory:
		return e.Code == OutOfMemory
	case ErrInit:
		return e.Call == "cuInit"
	}
	return false
}

// newError describes result r of call, naming cuCtxSetCurrent when the
// shim's context switch before the call is what failed.
func newError(lib driverAPI, call string, r Result) *Error {
	if r&ctxFailedBit != 0 {
		r &^= ctxFailedBit
		call = "cuCtxSetCurrent (before " + call + ")"
	}
	return &Error{Call: call, Code: r, Name: lib.errorName(r), Text: lib.errorString(r)}
}

// allocError is newError for an allocation of n bytes, carrying n when
// the allocation itself failed.
func allocError(lib driverAPI, call string, r Result, n int) *Error {
	e := newError(lib, call, r)
	if r&ctxFailedBit == 0 {
		e.Bytes = int64(n)
	}
	return e
}

// check returns nil for Success, else call's *Error.
func check(lib driverAPI, call string, r Result) error {
	if r == Success {
		return nil
	}
	return newError(lib, call, r)
}

// BlasStatus is cublasStatus_t.
type BlasStatus int

// cublasStatus_t values (cublas_api.h 12.x/13.0).
const (
	BlasSuccess         BlasStatus = 0
	BlasNotInitialized  BlasStatus = 1
	BlasAllocFailed     BlasStatus = 3
	BlasInvalidValue    BlasStatus = 7
	BlasArchMismatch    BlasStatus = 8
	BlasExecutionFailed BlasStatus = 13
	BlasInternalError   BlasStatus = 14
	BlasNotSupported    BlasStatus = 15
)

// BlasError is a failure cuBLAS reported.
type BlasError struct {
	Call   string // e.g. "cublasSgemm_v2"
	Status BlasStatus
	Name   string // cublasGetStatusName; may be ""
	Text   string // cublasGetStatusString; may be ""
}

func (e *BlasError) Error() string {
	s := "cuda: " + e.Call
	if e.Name != "" {
		s += fmt.Sprintf(": %s (%d)", e.Name, int(e.Status))
	} else {
		s += fmt.Sprintf(": cublasStatus %d", int(e.Status))
	}
	if e.Text != "" {
		s += ": " + e.Text
	}
	return s
}

// Is makes errors.Is(err, ErrOutOfMemory) match cuBLAS's own allocation
// failures (workspace, handle state).
func (e *BlasError) Is(target error) bool {
	return target == ErrOutOfMemory && e.Status == BlasAllocFailed
}

// checkBlas returns nil for success, a *BlasError for a cuBLAS status, or
// the driver's *Error when making the context current failed.
func checkBlas(drv driverAPI, lib blasAPI, call string, s BlasStatus) error {
	switch {
	case s == BlasSuccess:
		return nil
	case s&ctxFailedBit != 0:
		return newError(drv, call, Result(s))
	}
	return &BlasError{Call: call, Status: s, Name: lib.statusName(s), Text: lib.statusString(s)}
}
