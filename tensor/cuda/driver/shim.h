// The C side of package driver: libcuda.so.1 and cuBLAS opened with dlopen,
// each symbol resolved with dlsym, and one small wrapper per call. No CUDA
// header is needed: shim.c and shim_cublas.c declare the few types
// themselves. Handles and device pointers cross the boundary as uintptr_t so
// Go never holds them as pointers.
//
// The context rule: a wrapper that takes ctx makes it current on the calling
// thread (cuCtxSetCurrent) and then makes its call, both in this one C call,
// because a goroutine may run on another OS thread at its next cgo call. When
// cuCtxSetCurrent fails the wrapper returns that CUresult | FDSM_CTX_FAILED.

#ifndef FDSM_CUDA_SHIM_H
#define FDSM_CUDA_SHIM_H

#include <stddef.h>
#include <stdint.h>

// Larger than any CUresult (< 1000) or cublasStatus_t (< 20).
#define FDSM_CTX_FAILED 0x100000

// The most 8-byte words a kernel's one by-value parameter may have.
#define FDSM_MAX_WORDS 32

// One opened library and its resolved symbols. Neither is ever freed once
// open succeeds: the driver and cuBLAS keep threads and state that need the
// code mapped.
typedef struct fdsm_cuda fdsm_cuda;
typedef struct fdsm_cublas fdsm_cublas;

// Both return NULL and write why into err (dlerror, or the first missing
// required symbol) when path cannot serve. lt, when not NULL, is a
// libcublasLt to load first so that cuBLAS finds it (see shim_cublas.c).
fdsm_cuda *fdsm_cuda_open(const char *path, char *err, size_t errlen);
fdsm_cublas *fdsm_cublas_open(const char *path, const char *lt, char *err,
                              size_t errlen);

// Calls that need no context.
int fdsm_cu_init(fdsm_cuda *l, unsigned flags);
int fdsm_cu_driver_version(fdsm_cuda *l, int *v);
int fdsm_cu_device_count(fdsm_cuda *l, int *n);
int fdsm_cu_device_get(fdsm_cuda *l, int ordinal, int *dev);
int fdsm_cu_device_name(fdsm_cuda *l, int dev, char *name, int len);
int fdsm_cu_device_total_mem(fdsm_cuda *l, int dev, size_t *bytes);
int fdsm_cu_device_attribute(fdsm_cuda *l, int dev, int attr, int *v);
int fdsm_cu_primary_ctx_retain(fdsm_cuda *l, int dev, uintptr_t *ctx);
int fdsm_cu_primary_ctx_release(fdsm_cuda *l, int dev);
// Both return NULL when the library lacks the (optional) symbol or does not
// know the code.
const char *fdsm_cu_error_name(fdsm_cuda *l, int code);
const char *fdsm_cu_error_string(fdsm_cuda *l, int code);

// Calls made with ctx current.
int fdsm_cu_mem_get_info(fdsm_cuda *l, uintptr_t ctx, size_t *free_,
                         size_t *total);
int fdsm_cu_mem_alloc(fdsm_cuda *l, uintptr_t ctx, size_t n, uintptr_t *p);
int fdsm_cu_mem_free(fdsm_cuda *l, uintptr_t ctx, uintptr_t p);
int fdsm_cu_mem_alloc_host(fdsm_cuda *l, uintptr_t ctx, size_t n, void **p);
int fdsm_cu_mem_free_host(fdsm_cuda *l, uintptr_t ctx, void *p);
int fdsm_cu_memcpy_htod(fdsm_cuda *l, uintptr_t ctx, uintptr_t dst,
                        const void *src, size_t n, uintptr_t stream);
int fdsm_cu_memcpy_dtoh(fdsm_cuda *l, uintptr_t ctx, void *dst, uintptr_t src,
                        size_t n, uintptr_t stream);
int fdsm_cu_memcpy_dtod(fdsm_cuda *l, uintptr_t ctx, uintptr_t dst,
                        uintptr_t src, size_t n, uintptr_t stream);
int fdsm_cu_memset_d8(fdsm_cuda *l, uintptr_t ctx, uintptr_t dst,
                      unsigned char v, size_t n, uintptr_t stream);
int fdsm_cu_stream_create(fdsm_cuda *l, uintptr_t ctx, unsigned flags,
                          uintptr_t *s);
int fdsm_cu_stream_destroy(fdsm_cuda *l, uintptr_t ctx, uintptr_t s);
int fdsm_cu_stream_synchronize(fdsm_cuda *l, uintptr_t ctx, uintptr_t s);
int fdsm_cu_stream_query(fdsm_cuda *l, uintptr_t ctx, uintptr_t s);
int fdsm_cu_stream_wait_event(fdsm_cuda *l, uintptr_t ctx, uintptr_t s,
                              uintptr_t e);
int fdsm_cu_event_create(fdsm_cuda *l, uintptr_t ctx, unsigned flags,
                         uintptr_t *e);
int fdsm_cu_event_record(fdsm_cuda *l, uintptr_t ctx, uintptr_t e,
                         uintptr_t s);
int fdsm_cu_event_query(fdsm_cuda *l, uintptr_t ctx, uintptr_t e);
int fdsm_cu_event_synchronize(fdsm_cuda *l, uintptr_t ctx, uintptr_t e);
int fdsm_cu_event_destroy(fdsm_cuda *l, uintptr_t ctx, uintptr_t e);
// image must be NUL-terminated when it is PTX text.
int fdsm_cu_module_load_data(fdsm_cuda *l, uintptr_t ctx, const void *image,
                             uintptr_t *mod);
int fdsm_cu_module_get_function(fdsm_cuda *l, uintptr_t ctx, uintptr_t mod,
                                const char *name, uintptr_t *fn);
int fdsm_cu_module_unload(fdsm_cuda *l, uintptr_t ctx, uintptr_t mod);
// The kernel gets one by-value parameter: the nwords (<= FDSM_MAX_WORDS)
// words, copied into a zero-filled block of FDSM_MAX_WORDS.
int fdsm_cu_launch(fdsm_cuda *l, uintptr_t ctx, uintptr_t fn, unsigned gx,
                   unsigned gy, unsigned gz, unsigned bx, unsigned by,
                   unsigned bz, unsigned shared, uintptr_t stream,
                   const uint64_t *words, int nwords);

// A GEMM's operands, column-major as cuBLAS takes them. The strides and
// batch are read by the strided-batched calls only.
typedef struct {
  int transa, transb;
  int m, n, k;
  uintptr_t a, b, c;
  int lda, ldb, ldc;
  long long stride_a, stride_b, stride_c;
  int batch;
} fdsm_gemm;

// cuBLAS calls, each made with ctx current (through d's cuCtxSetCurrent).
int fdsm_cublas_create(fdsm_cublas *b, fdsm_cuda *d, uintptr_t ctx,
                       uintptr_t *h);
int fdsm_cublas_destroy(fdsm_cublas *b, fdsm_cuda *d, uintptr_t ctx,
                        uintptr_t h);
int fdsm_cublas_set_stream(fdsm_cublas *b, fdsm_cuda *d, uintptr_t ctx,
                           uintptr_t h, uintptr_t stream);
int fdsm_cublas_set_math_mode(fdsm_cublas *b, fdsm_cuda *d, uintptr_t ctx,
                              uintptr_t h, int mode);
int fdsm_cublas_get_version(fdsm_cublas *b, fdsm_cuda *d, uintptr_t ctx,
                            uintptr_t h, int *v);
int fdsm_cublas_sgemm(fdsm_cublas *b, fdsm_cuda *d, uintptr_t ctx,
                      uintptr_t h, const fdsm_gemm *g, float alpha, float beta);
int fdsm_cublas_dgemm(fdsm_cublas *b, fdsm_cuda *d, uintptr_t ctx,
                      uintptr_t h, const fdsm_gemm *g, double alpha,
                      double beta);
int fdsm_cublas_sgemm_batched(fdsm_cublas *b, fdsm_cuda *d, uintptr_t ctx,
                              uintptr_t h, const fdsm_gemm *g, float alpha,
                              float beta);
int fdsm_cublas_dgemm_batched(fdsm_cublas *b, fdsm_cuda *d, uintptr_t ctx,
                              uintptr_t h, const fdsm_gemm *g, double alpha,
                              double beta);
// Both return NULL when the library lacks the (optional) symbol.
const char *fdsm_cublas_status_name(fdsm_cublas *b, int status);
const char *fdsm_cublas_status_string(fdsm_cublas *b, int status);

// Shared by shim.c and shim_cublas.c: one row per symbol, saying where its
// address goes in a library struct whose first member is the dlopen handle.
typedef struct {
  const char *name;
  size_t offset;
  int required;
} fdsm_symbol;

// fdsm_dl_open dlopens path and returns a zeroed struct of size bytes with
// the handle and every symbol filled in, or NULL with the reason in err.
void *fdsm_dl_open(const char *path, const fdsm_symbol *syms, size_t nsyms,
                   size_t size, char *err, size_t errlen);

// fdsm_cu_set_current is cuCtxSetCurrent, for shim_cublas.c's wrappers.
int fdsm_cu_set_current(fdsm_cuda *l, uintptr_t ctx);

#endif
