//go:build cgo

// The cuBLAS half of the shim. Declarations follow NVIDIA's cublas_api.h of
// cuBLAS 12.x/13.0: the v2 entry points (cublasCreate_v2 etc.), int
// dimensions, long long strides, host-pointer alpha and beta. The names
// were checked against the exports of Debian's libcublas.so.11.11.3.6
// (nm -D); the 12 and 13 series keep them.

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "shim.h"

typedef int cublas_status; // cublasStatus_t
typedef void *cublas_handle;
typedef void *cu_stream;

struct fdsm_cublas {
  void *handle;
  cublas_status (*create)(cublas_handle *);
  cublas_status (*destroy)(cublas_handle);
  cublas_status (*set_stream)(cublas_handle, cu_stream);
  cublas_status (*set_math_mode)(cublas_handle, int);
  cublas_status (*get_version)(cublas_handle, int *);
  cublas_status (*sgemm)(cublas_handle, int, int, int, int, int, const float *,
                         const float *, int, const float *, int, const float *,
                         float *, int);
  cublas_status (*dgemm)(cublas_handle, int, int, int, int, int,
                         const double *, const double *, int, const double *,
                         int, const double *, double *, int);
  cublas_status (*sgemm_batched)(cublas_handle, int, int, int, int, int,
                                 const float *, const float *, int, long long,
                                 const float *, int, long long, const float *,
                                 float *, int, long long, int);
  cublas_status (*dgemm_batched)(cublas_handle, int, int, int, int, int,
                                 const double *, const double *, int,
                                 long long, const double *, int, long long,
                                 const double *, double *, int, long long,
                                 int);
  const char *(*status_name)(cublas_status);
  const char *(*status_string)(cublas_status);
};

#define SYM(name, field, req) {name, offsetof(fdsm_cublas, field), req}

static const fdsm_symbol cublas_symbols[] = {
    SYM("cublasCreate_v2", create, 1),
    SYM("cublasDestroy_v2", destroy, 1),
    SYM("cublasSetStream_v2", set_stream, 1),
    SYM("cublasSetMathMode", set_math_mode, 1),
    SYM("cublasGetVersion_v2", get_version, 1),
    SYM("cublasSgemm_v2", sgemm, 1),
    SYM("cublasDgemm_v2", dgemm, 1),
    SYM("cublasSgemmStridedBatched", sgemm_batched, 1),
    SYM("cublasDgemmStridedBatched", dgemm_batched, 1),
    SYM("cublasGetStatusName", status_name, 0), // cuBLAS 11.4.2 and later
    SYM("cublasGetStatusString", status_string, 0),
};

// libcublas.so.N needs libcublasLt.so.N. NVIDIA's builds find it through
// RUNPATH $ORIGIN (Debian's 11.11 has it); loading lt first, from the same
// directory, also serves a build without that RUNPATH, since the loader
// matches a needed library by soname against what is already loaded. The
// handle is kept: cuBLAS needs Lt for as long as it is loaded.
fdsm_cublas *fdsm_cublas_open(const char *path, const char *lt, char *err,
                              size_t errlen) {
  char lt_err[256] = "";
  if (lt != NULL && dlopen(lt, RTLD_NOW | RTLD_LOCAL) == NULL) {
    const char *e = dlerror();
    snprintf(lt_err, sizeof lt_err, "%s", e ? e : "dlopen failed");
  }
  fdsm_cublas *b =
      fdsm_dl_open(path, cublas_symbols,
                   sizeof cublas_symbols / sizeof cublas_symbols[0],
                   sizeof(fdsm_cublas), err, errlen);
  if (b == NULL && lt_err[0] != '\0') {
    size_t n = strlen(err);
    snprintf(err + n, errlen - n, " (loading %s first failed: %s)", lt, lt_err);
  }
  return b;
}

// ENTER makes ctx current through the driver, as in shim.c. cuBLAS works on
// the context current on the calling thread (through the CUDA runtime it
// links statically), so each call needs it, not just cublasCreate.
#define ENTER(d, ctx)                                                         \
  do {                                                                        \
    int r_ = fdsm_cu_set_current((d), (ctx));                                 \
    if (r_ != 0) return r_ | FDSM_CTX_FAILED;                                 \
  } while (0)

int fdsm_cublas_create(fdsm_cublas *b, fdsm_cuda *d, uintptr_t ctx,
                       uintptr_t *h) {
  ENTER(d, ctx);
  cublas_handle out = NULL;
  int r = b->create(&out);
  *h = (uintptr_t)out;
  return r;
}

int fdsm_cublas_destroy(fdsm_cublas *b, fdsm_cuda *d, uintptr_t ctx,
                        uintptr_t h) {
  ENTER(d, ctx);
  return b->destroy((cublas_handle)h);
}

int fdsm_cublas_set_stream(fdsm_cublas *b, fdsm_cuda *d, uintptr_t ctx,
                           uintptr_t h, uintptr_t stream) {
  ENTER(d, ctx);
  return b->set_stream((cublas_handle)h, (cu_stream)stream);
}

int fdsm_cublas_set_math_mode(fdsm_cublas *b, fdsm_cuda *d, uintptr_t ctx,
                              uintptr_t h, int mode) {
  ENTER(d, ctx);
  return b->set_math_mode((cublas_handle)h, mode);
}

int fdsm_cublas_get_version(fdsm_cublas *b, fdsm_cuda *d, uintptr_t ctx,
                            uintptr_t h, int *v) {
  ENTER(d, ctx);
  return b->get_version((cublas_handle)h, v);
}

// alpha and beta are passed by address in host memory (the default pointer
// mode, never changed here); cuBLAS reads them before returning.
int fdsm_cublas_sgemm(fdsm_cublas *b, fdsm_cuda *d, uintptr_t ctx,
                      uintptr_t h, const fdsm_gemm *g, float alpha,
                      float beta) {
  ENTER(d, ctx);
  return b->sgemm((cublas_handle)h, g->transa, g->transb, g->m, g->n, g->k,
                  &alpha, (const float *)g->a, g->lda, (const float *)g->b,
                  g->ldb, &beta, (float *)g->c, g->ldc);
}

int fdsm_cublas_dgemm(fdsm_cublas *b, fdsm_cuda *d, uintptr_t ctx,
                      uintptr_t h, const fdsm_gemm *g, double alpha,
                      double beta) {
  ENTER(d, ctx);
  return b->dgemm((cublas_handle)h, g->transa, g->transb, g->m, g->n, g->k,
                  &alpha, (const double *)g->a, g->lda, (const double *)g->b,
                  g->ldb, &beta, (double *)g->c, g->ldc);
}

int fdsm_cublas_sgemm_batched(fdsm_cublas *b, fdsm_cuda *d, uintptr_t ctx,
                              uintptr_t h, const fdsm_gemm *g, float alpha,
                              float beta) {
  ENTER(d, ctx);
  return b->sgemm_batched((cublas_handle)h, g->transa, g->transb, g->m, g->n,
                          g->k, &alpha, (const float *)g->a, g->lda,
                          g->stride_a, (const float *)g->b, g->ldb,
                          g->stride_b, &beta, (float *)g->c, g->ldc,
                          g->stride_c, g->batch);
}

int fdsm_cublas_dgemm_batched(fdsm_cublas *b, fdsm_cuda *d, uintptr_t ctx,
                              uintptr_t h, const fdsm_gemm *g, double alpha,
                              double beta) {
  ENTER(d, ctx);
  return b->dgemm_batched((cublas_handle)h, g->transa, g->transb, g->m, g->n,
                          g->k, &alpha, (const double *)g->a, g->lda,
                          g->stride_a, (const double *)g->b, g->ldb,
                          g->stride_b, &beta, (double *)g->c, g->ldc,
                          g->stride_c, g->batch);
}

const char *fdsm_cublas_status_name(fdsm_cublas *b, int status) {
  return b->status_name ? b->status_name(status) : NULL;
}

const char *fdsm_cublas_status_string(fdsm_cublas *b, int status) {
  return b->status_string ? b->status_string(status) : NULL;
}
