//go:build cgo

package driver

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"
)

// cBlas is a cuBLAS opened by shim_cublas.c, bound to the driver whose
// cuCtxSetCurrent its wrappers call.
type cBlas struct {
	file string
	b    *C.fdsm_cublas
	d    *C.fdsm_cuda
}

// openBlas dlopens name (a path, or a bare name for the loader's search)
// for use with drv, first loading the libcublasLt beside a path.
func openBlas(name string, drv driverAPI) (blasAPI, error) {
	cd, ok := drv.(*cDriver)
	if !ok {
		return nil, fmt.Errorf("cuda: cuBLAS needs a driver loaded by this package, not %T", drv)
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var clt *C.char
	if lt := ltBeside(name); lt != "" {
		clt = C.CString(lt)
		defer C.free(unsafe.Pointer(clt))
	}
	var buf [768]C.char
	b := C.fdsm_cublas_open(cname, clt, &buf[0], C.size_t(len(buf)))
	if b == nil {
		return nil, errors.New(C.GoString(&buf[0]))
	}
	return &cBlas{file: name, b: b, d: cd.l}, nil
}

// ltBeside returns the libcublasLt.so.N next to a libcublas.so.N path, or
// "" for a bare name (the loader finds Lt the way it found cuBLAS) or when
// there is none.
func ltBeside(name string) string {
	dir, base := filepath.Split(name)
	if dir == "" || !strings.HasPrefix(base, "libcublas.") {
		return ""
	}
	lt := filepath.Join(dir, "libcublasLt."+strings.TrimPrefix(base, "libcublas."))
	if _, err := os.Stat(lt); err != nil {
		return ""
	}
	return lt
}

func (c *cBlas) path() string { return c.file }

func (c *cBlas) create(ctx uintptr) (uintptr, BlasStatus) {
	var h C.uintptr_t
	s := C.fdsm_cublas_create(c.b, c.d, C.uintptr_t(ctx), &h)
	return uintptr(h), BlasStatus(s)
}

func (c *cBlas) destroy(ctx, h uintptr) BlasStatus {
	return BlasStatus(C.fdsm_cublas_destroy(c.b, c.d, C.uintptr_t(ctx), C.uintptr_t(h)))
}

func (c *cBlas) setStream(ctx, h, stream uintptr) BlasStatus {
	return BlasStatus(C.fdsm_cublas_set_stream(c.b, c.d, C.uintptr_t(ctx), C.uintptr_t(h),
		C.uintptr_t(stream)))
}

func (c *cBlas) setMathMode(ctx, h uintptr, mode MathMode) BlasStatus {
	return BlasStatus(C.fdsm_cublas_set_math_mode(c.b, c.d, C.uintptr_t(ctx), C.uintptr_t(h),
		C.int(mode)))
}

func (c *cBlas) version(ctx, h uintptr) (int, BlasStatus) {
	var v C.int
	s := C.fdsm_cublas_get_version(c.b, c.d, C.uintptr_t(ctx), C.uintptr_t(h), &v)
	return int(v), BlasStatus(s)
}

// cGemm copies g into shim.h's fdsm_gemm; g's fields were range-checked.
func cGemm(g *gemmArgs) *C.fdsm_gemm {
	return &C.fdsm_gemm{
		transa: C.int(g.transA), transb: C.int(g.transB),
		m: C.int(g.m), n: C.int(g.n), k: C.int(g.k),
		a: C.uintptr_t(g.a), b: C.uintptr_t(g.b), c: C.uintptr_t(g.c),
		lda: C.int(g.lda), ldb: C.int(g.ldb), ldc: C.int(g.ldc),
		stride_a: C.longlong(g.strideA), stride_b: C.longlong(g.strideB),
		stride_c: C.longlong(g.strideC), batch: C.int(g.batch),
	}
}

func (c *cBlas) sgemm(ctx, h uintptr, g *gemmArgs, alpha, beta float32) BlasStatus {
	return BlasStatus(C.fdsm_cublas_sgemm(c.b, c.d, C.uintptr_t(ctx), C.uintptr_t(h), cGemm(g),
		C.float(alpha), C.float(beta)))
}

func (c *cBlas) dgemm(ctx, h uintptr, g *gemmArgs, alpha, beta float64) BlasStatus {
	return BlasStatus(C.fdsm_cublas_dgemm(c.b, c.d, C.uintptr_t(ctx), C.uintptr_t(h), cGemm(g),
		C.double(alpha), C.double(beta)))
}

func (c *cBlas) sgemmBatched(ctx, h uintptr, g *gemmArgs, alpha, beta float32) BlasStatus {
	return BlasStatus(C.fdsm_cublas_sgemm_batched(c.b, c.d, C.uintptr_t(ctx), C.uintptr_t(h),
		cGemm(g), C.float(alpha), C.float(beta)))
}

func (c *cBlas) dgemmBatched(ctx, h uintptr, g *gemmArgs, alpha, beta float64) BlasStatus {
	return BlasStatus(C.fdsm_cublas_dgemm_batched(c.b, c.d, C.uintptr_t(ctx), C.uintptr_t(h),
		cGemm(g), C.double(alpha), C.double(beta)))
}

func (c *cBlas) statusName(s BlasStatus) string {
	return C.GoString(C.fdsm_cublas_status_name(c.b, C.int(s)))
}

func (c *cBlas) statusString(s BlasStatus) string {
	return C.GoString(C.fdsm_cublas_status_string(c.b, C.int(s)))
}
