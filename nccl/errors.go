package nccl

import (
	"errors"
	"fmt"

	"github.com/fdsm-go/fdsm/collective"
)

// Result is ncclResult_t.
type Result int

// ncclResult_t values (nccl.h 2.28.9; Timeout from 2.29).
const (
	Success            Result = 0
	UnhandledCudaError Result = 1
	SystemError        Result = 2
	InternalError      Result = 3
	InvalidArgument    Result = 4
	InvalidUsage       Result = 5
	RemoteError        Result = 6
	InProgress         Result = 7
	Timeout            Result = 8
)

// Error is a failure NCCL reported. It matches collective.ErrPeerLost for
// RemoteError and collective.ErrTimeout for Timeout under errors.Is.
type Error struct {
	Call   string // the NCCL function, e.g. "ncclAllReduce"
	Code   Result
	Text   string // ncclGetErrorString(Code)
	Detail string // ncclGetLastError, "" when unavailable
}

func (e *Error) Error() string {
	s := fmt.Sprintf("nccl: %s: %s (ncclResult %d)", e.Call, e.Text, int(e.Code))
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is maps NCCL's own classification onto the collective contract's errors.
func (e *Error) Is(target error) bool {
	switch e.Code {
	case RemoteError:
		return target == collective.ErrPeerLost
	case Timeout:
		return target == collective.ErrTimeout
	}
	return false
}

// errNoCgo: NCCL is reached through a cgo shim (dlopen), absent in a build
// with CGO_ENABLED=0.
var errNoCgo = errors.New("nccl: built without cgo (CGO_ENABLED=0): " +
	"cannot load libnccl.so.2; rebuild with CGO_ENABLED=1 and a C compiler")

// callError describes a non-success result r of call. Comm methods pass
// the communicator so NCCL's last-error text is included; it must still be
// valid (not aborted).
func callError(lib library, call string, r Result, comm uintptr) *Error {
	e := &Error{Call: call, Code: r, Text: lib.errorString(r)}
	if comm != 0 {
		e.Detail = lib.lastError(comm)
	}
	return e
}
