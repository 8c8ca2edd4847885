//go:build cgo

package driver

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

// shim.h's constants must equal their Go copies (compile-time checks).
var (
	_ = [1]struct{}{}[ctxFailedBit-C.FDSM_CTX_FAILED]
	_ = [1]struct{}{}[MaxArgWords-C.FDSM_MAX_WORDS]
)

// cDriver is a libcuda.so.1 opened by shim.c.
type cDriver struct {
	file string
	l    *C.fdsm_cuda
}

// openDriver dlopens name (a path, or a bare name for the loader's own
// search) and resolves the symbols this package uses.
func openDriver(name string) (driverAPI, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var buf [512]C.char
	l := C.fdsm_cuda_open(cname, &buf[0], C.size_t(len(buf)))
	if l == nil {
		return nil, errors.New(C.GoString(&buf[0]))
	}
	return &cDriver{file: name, l: l}, nil
}

func (c *cDriver) path() string { return c.file }

func (c *cDriver) init(flags uint32) Result {
	return Result(C.fdsm_cu_init(c.l, C.uint(flags)))
}

func (c *cDriver) driverVersion() (int, Result) {
	var v C.int
	r := C.fdsm_cu_driver_version(c.l, &v)
	return int(v), Result(r)
}

func (c *cDriver) deviceCount() (int, Result) {
	var n C.int
	r := C.fdsm_cu_device_count(c.l, &n)
	return int(n), Result(r)
}

func (c *cDriver) deviceGet(ordinal int) (int, Result) {
	var d C.int
	r := C.fdsm_cu_device_get(c.l, C.int(ordinal), &d)
	return int(d), Result(r)
}

func (c *cDriver) deviceName(dev int) (string, Result) {
	var buf [256]C.char
	r := C.fdsm_cu_device_name(c.l, C.int(dev), &buf[0], C.int(len(buf)-1))
	return C.GoString(&buf[0]), Result(r)
}

func (c *cDriver) deviceTotalMem(dev int) (int64, Result) {
	var n C.size_t
	r := C.fdsm_cu_device_total_mem(c.l, C.int(dev), &n)
	return int64(n), Result(r)
}

func (c *cDriver) deviceAttribute(dev int, attr Attribute) (int, Result) {
	var v C.int
	r := C.fdsm_cu_device_attribute(c.l, C.int(dev), C.int(attr), &v)
	return int(v), Result(r)
}

func (c *cDriver) primaryCtxRetain(dev int) (uintptr, Result) {
	var ctx C.uintptr_t
	r := C.fdsm_cu_primary_ctx_retain(c.l, C.int(dev), &ctx)
	return uintptr(ctx), Result(r)
}

func (c *cDriver) primaryCtxRelease(dev int) Result {
	return Result(C.fdsm_cu_primary_ctx_release(c.l, C.int(dev)))
}

func (c *cDriver) errorName(r Result) string {
	return C.GoString(C.fdsm_cu_error_name(c.l, C.int(r)))
}

func (c *cDriver) errorString(r Result) string {
	return C.GoString(C.fdsm_cu_error_string(c.l, C.int(r)))
}

func (c *cDriver) memGetInfo(ctx uintptr) (int64, int64, Result) {
	var free, total C.size_t
	r := C.fdsm_cu_mem_get_info(c.l, C.uintptr_t(ctx), &free, &total)
	return int64(free), int64(total), Result(r)
}

func (c *cDriver) memAlloc(ctx uintptr, n int) (uintptr, Result) {
	var p C.uintptr_t
	r := C.fdsm_cu_mem_alloc(c.l, C.uintptr_t(ctx), C.size_t(n), &p)
	return uintptr(p), Result(r)
}

func (c *cDriver) memFree(ctx, p uintptr) Result {
	return Result(C.fdsm_cu_mem_free(c.l, C.uintptr_t(ctx), C.uintptr_t(p)))
}

func (c *cDriver) memAllocHost(ctx uintptr, n int) (unsafe.Pointer, Result) {
	var p unsafe.Pointer
	r := C.fdsm_cu_mem_alloc_host(c.l, C.uintptr_t(ctx), C.size_t(n), &p)
	return p, Result(r)
}

func (c *cDriver) memFreeHost(ctx uintptr, p unsafe.Pointer) Result {
	return Result(C.fdsm_cu_mem_free_host(c.l, C.uintptr_t(ctx), p))
}

func (c *cDriver) memcpyHtoD(ctx, dst uintptr, src unsafe.Pointer, n int, stream uintptr) Result {
	return Result(C.fdsm_cu_memcpy_htod(c.l, C.uintptr_t(ctx), C.uintptr_t(dst), src,
		C.size_t(n), C.uintptr_t(stream)))
}

func (c *cDriver) memcpyDtoH(ctx uintptr, dst unsafe.Pointer, src uintptr, n int, stream uintptr) Result {
	return Result(C.fdsm_cu_memcpy_dtoh(c.l, C.uintptr_t(ctx), dst, C.uintptr_t(src),
		C.size_t(n), C.uintptr_t(stream)))
}

func (c *cDriver) memcpyDtoD(ctx, dst, src uintptr, n int, stream uintptr) Result {
	return Result(C.fdsm_cu_memcpy_dtod(c.l, C.uintptr_t(ctx), C.uintptr_t(dst), C.uintptr_t(src),
		C.size_t(n), C.uintptr_t(stream)))
}

func (c *cDriver) memsetD8(ctx, dst uintptr, v byte, n int, stream uintptr) Result {
	return Result(C.fdsm_cu_memset_d8(c.l, C.uintptr_t(ctx), C.uintptr_t(dst), C.uchar(v),
		C.size_t(n), C.uintptr_t(stream)))
}

func (c *cDriver) streamCreate(ctx uintptr, flags StreamFlags) (uintptr, Result) {
	var s C.uintptr_t
	r := C.fdsm_cu_stream_create(c.l, C.uintptr_t(ctx), C.uint(flags), &s)
	return uintptr(s), Result(r)
}

func (c *cDriver) streamDestroy(ctx, s uintptr) Result {
	return Result(C.fdsm_cu_stream_destroy(c.l, C.uintptr_t(ctx), C.uintptr_t(s)))
}

func (c *cDriver) streamSynchronize(ctx, s uintptr) Result {
	return Result(C.fdsm_cu_stream_synchronize(c.l, C.uintptr_t(ctx), C.uintptr_t(s)))
}

func (c *cDriver) streamQuery(ctx, s uintptr) Result {
	return Result(C.fdsm_cu_stream_query(c.l, C.uintptr_t(ctx), C.uintptr_t(s)))
}

func (c *cDriver) streamWaitEvent(ctx, s, e uintptr) Result {
	return Result(C.fdsm_cu_stream_wait_event(c.l, C.uintptr_t(ctx), C.uintptr_t(s),
		C.uintptr_t(e)))
}

func (c *cDriver) eventCreate(ctx uintptr, flags EventFlags) (uintptr, Result) {
	var e C.uintptr_t
	r := C.fdsm_cu_event_create(c.l, C.uintptr_t(ctx), C.uint(flags), &e)
	return uintptr(e), Result(r)
}

func (c *cDriver) eventRecord(ctx, e, s uintptr) Result {
	return Result(C.fdsm_cu_event_record(c.l, C.uintptr_t(ctx), C.uintptr_t(e), C.uintptr_t(s)))
}

func (c *cDriver) eventQuery(ctx, e uintptr) Result {
	return Result(C.fdsm_cu_event_query(c.l, C.uintptr_t(ctx), C.uintptr_t(e)))
}

func (c *cDriver) eventSynchronize(ctx, e uintptr) Result {
	return Result(C.fdsm_cu_event_synchronize(c.l, C.uintptr_t(ctx), C.uintptr_t(e)))
}

func (c *cDriver) eventDestroy(ctx, e uintptr) Result {
	return Result(C.fdsm_cu_event_destroy(c.l, C.uintptr_t(ctx), C.uintptr_t(e)))
}

// moduleLoadData hands the driver a NUL-terminated C copy of image: PTX
// must end in NUL, and cubin or fatbin images carry their own sizes.
func (c *cDriver) moduleLoadData(ctx uintptr, image string) (uintptr, Result) {
	cimg := C.CString(image)
	defer C.free(unsafe.Pointer(cimg))
	var m C.uintptr_t
	r := C.fdsm_cu_module_load_data(c.l, C.uintptr_t(ctx), unsafe.Pointer(cimg), &m)
	return uintptr(m), Result(r)
}

func (c *cDriver) moduleGetFunction(ctx, mod uintptr, name string) (uintptr, Result) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var f C.uintptr_t
	r := C.fdsm_cu_module_get_function(c.l, C.uintptr_t(ctx), C.uintptr_t(mod), cname, &f)
	return uintptr(f), Result(r)
}

func (c *cDriver) moduleUnload(ctx, mod uintptr) Result {
	return Result(C.fdsm_cu_module_unload(c.l, C.uintptr_t(ctx), C.uintptr_t(mod)))
}

func (c *cDriver) launch(ctx, fn uintptr, grid, block [3]uint32, shared uint32, stream uintptr,
	words []uint64) Result {
	var w *C.uint64_t
	if len(words) > 0 {
		w = (*C.uint64_t)(unsafe.Pointer(&words[0]))
	}
	return Result(C.fdsm_cu_launch(c.l, C.uintptr_t(ctx), C.uintptr_t(fn),
		C.uint(grid[0]), C.uint(grid[1]), C.uint(grid[2]),
		C.uint(block[0]), C.uint(block[1]), C.uint(block[2]),
		C.uint(shared), C.uintptr_t(stream), w, C.int(len(words))))
}
