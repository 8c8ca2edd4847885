//go:build cgo

package nccl

/*
#cgo LDFLAGS: -ldl
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"unsafe"
)

const cgoEnabled = true

// cLibrary is a library opened by shim.c.
type cLibrary struct {
	file string
	l    *C.fdsm_nccl
}

// openLibrary dlopens name (a path, or a bare name for the loader's own
// search) and resolves the symbols this package uses.
func openLibrary(name string) (library, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var buf [512]C.char
	l := C.fdsm_nccl_open(cname, &buf[0], C.size_t(len(buf)))
	if l == nil {
		return nil, errors.New(C.GoString(&buf[0]))
	}
	return &cLibrary{file: name, l: l}, nil
}

func (c *cLibrary) path() string { return c.file }

func (c *cLibrary) getVersion() (int, Result) {
	var code C.int
	r := C.fdsm_nccl_get_version(c.l, &code)
	return int(code), Result(r)
}

func (c *cLibrary) getUniqueID() (UniqueID, Result) {
	var id UniqueID
	r := C.fdsm_nccl_get_unique_id(c.l, (*C.uchar)(unsafe.Pointer(&id[0])))
	return id, Result(r)
}

func (c *cLibrary) initRank(id UniqueID, nranks, rank int) (uintptr, Result) {
	var comm C.uintptr_t
	r := C.fdsm_nccl_init_rank(c.l, &comm, C.int(nranks),
		(*C.uchar)(unsafe.Pointer(&id[0])), C.int(rank))
	return uintptr(comm), Result(r)
}

func (c *cLibrary) asyncError(comm uintptr) (Result, Result) {
	var state C.int
	r := C.fdsm_nccl_async_error(c.l, C.uintptr_t(comm), &state)
	return Result(state), Result(r)
}

func (c *cLibrary) abort(comm uintptr) Result {
	return Result(C.fdsm_nccl_abort(c.l, C.uintptr_t(comm)))
}

func (c *cLibrary) finalize(comm uintptr) Result {
	return Result(C.fdsm_nccl_finalize(c.l, C.uintptr_t(comm)))
}

func (c *cLibrary) destroy(comm uintptr) Result {
	return Result(C.fdsm_nccl_destroy(c.l, C.uintptr_t(comm)))
}

func (c *cLibrary) allReduce(send, recv uintptr, count int, dt, op int, comm, stream uintptr) Result {
	return Result(C.fdsm_nccl_all_reduce(c.l, C.uintptr_t(send), C.uintptr_t(recv),
		C.size_t(count), C.int(dt), C.int(op), C.uintptr_t(comm), C.uintptr_t(stream)))
}

func (c *cLibrary) broadcast(send, recv uintptr, count int, dt, root int, comm, stream uintptr) Result {
	return Result(C.fdsm_nccl_broadcast(c.l, C.uintptr_t(send), C.uintptr_t(recv),
		C.size_t(count), C.int(dt), C.int(root), C.uintptr_t(comm), C.uintptr_t(stream)))
}

func (c *cLibrary) allGather(send, recv uintptr, sendCount int, dt int, comm, stream uintptr) Result {
	return Result(C.fdsm_nccl_all_gather(c.l, C.uintptr_t(send), C.uintptr_t(recv),
		C.size_t(sendCount), C.int(dt), C.uintptr_t(comm), C.uintptr_t(stream)))
}

func (c *cLibrary) reduceScatter(send, recv uintptr, recvCount int, dt, op int, comm, stream uintptr) Result {
	return Result(C.fdsm_nccl_reduce_scatter(c.l, C.uintptr_t(send), C.uintptr_t(recv),
		C.size_t(recvCount), C.int(dt), C.int(op), C.uintptr_t(comm), C.uintptr_t(stream)))
}

func (c *cLibrary) errorString(r Result) string {
	return C.GoString(C.fdsm_nccl_error_string(c.l, C.int(r)))
}

func (c *cLibrary) lastError(comm uintptr) string {
	return C.GoString(C.fdsm_nccl_last_error(c.l, C.uintptr_t(comm)))
}
