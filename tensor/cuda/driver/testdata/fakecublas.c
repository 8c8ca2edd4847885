// A fake libcublas.so.13 for package driver's tests. Its GEMMs are naive
// column-major loops honouring transa/transb, lda/ldb/ldc, alpha/beta and
// the strided-batched forms, so tests can check the shim's argument passing
// against their own reference. Like the real cuBLAS it works on the
// context current on the calling thread, which it learns from the fake
// libcuda.so.1 named by FAKE_CUDA_DRIVER (already loaded by the test); it
// logs to the same FAKE_CUDA_LOG.
//
//   FAKE_CUBLAS_VERSION      cublasGetVersion (default 130101)
//   FAKE_CUBLAS_GEMM_STATUS  make every GEMM fail with this status
//
// Build with -DFAKE_NO_STATUS_STRINGS to leave out the optional
// cublasGetStatusName/String, -DFAKE_NO_SGEMM to leave out the required
// cublasSgemm_v2, -DFAKE_NEEDS_LT to depend on libcublasLt.so.13 (link
// with it) as the real one does.

#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum { OK = 0, NOT_INITIALIZED = 1, INVALID_VALUE = 7, EXECUTION_FAILED = 13 };

// The fake driver's helpers (fakecuda.c).
typedef struct {
  void (*logv)(const char *, va_list);
  int (*enter)(const char *);
  void *(*span)(uintptr_t, size_t, int, int);
  int (*stream_ctx)(void *);
} driver;

typedef struct {
  int magic, ctx, math;
  void *stream;
  driver d;
} handle;

#define HANDLE 0xb1a5

static int bind(driver *d) {
  const char *p = getenv("FAKE_CUDA_DRIVER");
  void *h = p ? dlopen(p, RTLD_NOW | RTLD_NOLOAD) : NULL;
  if (h == NULL) return 0;
  d->logv = (void (*)(const char *, va_list))dlsym(h, "fake_cuda_logv");
  d->enter = (int (*)(const char *))dlsym(h, "fake_cuda_enter");
  d->span = (void *(*)(uintptr_t, size_t, int, int))dlsym(h, "fake_cuda_span");
  d->stream_ctx = (int (*)(void *))dlsym(h, "fake_cuda_stream_ctx");
  return d->logv && d->enter && d->span && d->stream_ctx;
}

static void logf_(const driver *d, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  d->logv(fmt, ap);
  va_end(ap);
}

static long env_long(const char *name, long def) {
  const char *v = getenv(name);
  return v && *v ? atol(v) : def;
}

#ifdef FAKE_NEEDS_LT
int fake_lt_version(void);
#endif

int cublasCreate_v2(handle **out) {
  driver d;
  if (!bind(&d)) return NOT_INITIALIZED;
  int ctx = d.enter("cublasCreate_v2");
#ifdef FAKE_NEEDS_LT
  logf_(&d, "cublasCreate_v2 ctx=%d owner=%d lt=%d", ctx, ctx, fake_lt_version());
#else
  logf_(&d, "cublasCreate_v2 ctx=%d owner=%d", ctx, ctx);
#endif
  if (ctx == 0) return NOT_INITIALIZED;
  handle *h = calloc(1, sizeof *h);
  *h = (handle){HANDLE, ctx, 0, NULL, d};
  *out = h;
  return OK;
}

// begin starts a call on h: it logs it and returns 0 unless the handle is
// good and its context current.
static int begin(handle *h, const char *call, const char *fmt, ...) {
  if (h == NULL || h->magic != HANDLE) return 0;
  int ctx = h->d.enter(call);
  char detail[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  logf_(&h->d, "%s ctx=%d owner=%d %s", call, ctx, h->ctx, detail);
  return ctx != 0 && ctx == h->ctx;
}

int cublasDestroy_v2(handle *h) {
  if (!begin(h, "cublasDestroy_v2", "")) return NOT_INITIALIZED;
  h->magic = 0;
  return OK;
}

int cublasSetStream_v2(handle *h, void *s) {
  if (!begin(h, "cublasSetStream_v2", "stream=%p stream_ctx=%d", s,
             h->d.stream_ctx(s)))
    return NOT_INITIALIZED;
  if (h->d.stream_ctx(s) != h->ctx) return INVALID_VALUE;
  h->stream = s;
  return OK;
}

int cublasSetMathMode(handle *h, int mode) {
  if (!begin(h, "cublasSetMathMode", "mode=%d", mode)) return NOT_INITIALIZED;
  h->math = mode;
  return OK;
}

int cublasGetVersion_v2(handle *h, int *v) {
  if (!begin(h, "cublasGetVersion_v2", "")) return NOT_INITIALIZED;
  *v = (int)env_long("FAKE_CUBLAS_VERSION", 130101);
  return OK;
}

typedef struct {
  int ta, tb, m, n, k, lda, ldb, ldc, batch, es;
  const void *a, *b;
  void *c;
  long long sa, sb, sc;
  double alpha, beta;
} gemm;

static int max1(int x) { return x > 1 ? x : 1; }

// extent is how many elements a rows×cols column-major matrix spans.
static size_t extent(int rows, int cols, int ld) {
  return rows > 0 && cols > 0 ? (size_t)(cols - 1) * (size_t)ld + (size_t)rows : 0;
}

static double get(const void *p, size_t i, int es) {
  return es == 4 ? ((const float *)p)[i] : ((const double *)p)[i];
}

static void put(void *p, size_t i, int es, double v) {
  if (es == 4) ((float *)p)[i] = (float)v;
  else ((double *)p)[i] = v;
}

// one computes C = alpha·op(A)·op(B) + beta·C for one batch member, whose
// operands were checked to lie in the context's memory.
static void one(const gemm *g, const void *a, const void *b, void *c) {
  for (int j = 0; j < g->n; j++) {
    for (int i = 0; i < g->m; i++) {
      double s = 0;
      for (int l = 0; l < g->k; l++) {
        double x = get(a, g->ta ? (size_t)i * g->lda + l : (size_t)l * g->lda + i, g->es);
        double y = get(b, g->tb ? (size_t)l * g->ldb + j : (size_t)j * g->ldb + l, g->es);
        s += x * y;
      }
      size_t ci = (size_t)j * g->ldc + i;
      double old = g->beta == 0 ? 0 : g->beta * get(c, ci, g->es); // BLAS: C unread
      put(c, ci, g->es, g->alpha * s + old);
    }
  }
}

// run checks g as cuBLAS does (status 7 for bad sizes) and that every
// operand lies in the handle's context's memory, then computes.
static int run(handle *h, const char *call, const gemm *g) {
  if (!begin(h, call, "ta=%d tb=%d m=%d n=%d k=%d lda=%d ldb=%d ldc=%d "
             "sa=%lld sb=%lld sc=%lld batch=%d alpha=%g beta=%g math=%d "
             "stream=%p", g->ta, g->tb, g->m, g->n, g->k, g->lda, g->ldb,
             g->ldc, g->sa, g->sb, g->sc, g->batch, g->alpha, g->beta,
             h->math, h->stream))
    return NOT_INITIALIZED;
  int st = (int)env_long("FAKE_CUBLAS_GEMM_STATUS", OK);
  if (st != OK) return st;
  if (g->ta < 0 || g->ta > 2 || g->tb < 0 || g->tb > 2 || g->m < 0 ||
      g->n < 0 || g->k < 0 || g->batch < 0 ||
      g->lda < max1(g->ta ? g->k : g->m) || g->ldb < max1(g->tb ? g->n : g->k) ||
      g->ldc < max1(g->m))
    return INVALID_VALUE;
  size_t ea = extent(g->ta ? g->k : g->m, g->ta ? g->m : g->k, g->lda);
  size_t eb = extent(g->tb ? g->n : g->k, g->tb ? g->k : g->n, g->ldb);
  size_t ec = extent(g->m, g->n, g->ldc);
  for (int i = 0; i < g->batch; i++) {
    const char *a = (const char *)g->a + (size_t)(i * g->sa * g->es);
    const char *b = (const char *)g->b + (size_t)(i * g->sb * g->es);
    char *c = (char *)g->c + (size_t)(i * g->sc * g->es);
    if ((ea && !h->d.span((uintptr_t)a, ea * g->es, h->ctx, 0)) ||
        (eb && !h->d.span((uintptr_t)b, eb * g->es, h->ctx, 0)) ||
        (ec && !h->d.span((uintptr_t)c, ec * g->es, h->ctx, 0))) {
      logf_(&h->d, "violation %s operand %d outside the context's memory", call, i);
      return EXECUTION_FAILED;
    }
    one(g, a, b, c);
  }
  return OK;
}

#define GEMM(es_, a_, b_, c_, sa_, sb_, sc_, batch_)                          \
  gemm g = {ta, tb, m, n, k, lda, ldb, ldc, batch_, es_, a_, b_, c_, sa_,     \
            sb_, sc_, *alpha, *beta}

#ifndef FAKE_NO_SGEMM
int cublasSgemm_v2(handle *h, int ta, int tb, int m, int n, int k,
                   const float *alpha, const float *a, int lda,
                   const float *b, int ldb, const float *beta, float *c,
                   int ldc) {
  GEMM(4, a, b, c, 0, 0, 0, 1);
  return run(h, "cublasSgemm_v2", &g);
}
#endif

int cublasDgemm_v2(handle *h, int ta, int tb, int m, int n, int k,
                   const double *alpha, const double *a, int lda,
                   const double *b, int ldb, const double *beta, double *c,
                   int ldc) {
  GEMM(8, a, b, c, 0, 0, 0, 1);
  return run(h, "cublasDgemm_v2", &g);
}

int cublasSgemmStridedBatched(handle *h, int ta, int tb, int m, int n, int k,
                              const float *alpha, const float *a, int lda,
                              long long sa, const float *b, int ldb,
                              long long sb, const float *beta, float *c,
                              int ldc, long long sc, int batch) {
  GEMM(4, a, b, c, sa, sb, sc, batch);
  return run(h, "cublasSgemmStridedBatched", &g);
}

int cublasDgemmStridedBatched(handle *h, int ta, int tb, int m, int n, int k,
                              const double *alpha, const double *a, int lda,
                              long long sa, const double *b, int ldb,
                              long long sb, const double *beta, double *c,
                              int ldc, long long sc, int batch) {
  GEMM(8, a, b, c, sa, sb, sc, batch);
  return run(h, "cublasDgemmStridedBatched", &g);
}

#ifndef FAKE_NO_STATUS_STRINGS
const char *cublasGetStatusName(int s) {
  switch (s) {
  case OK: return "CUBLAS_STATUS_SUCCESS";
  case NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
  case 3: return "CUBLAS_STATUS_ALLOC_FAILED";
  case INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
  case EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

const char *cublasGetStatusString(int s) {
  switch (s) {
  case INVALID_VALUE: return "an invalid value was used as an argument";
  case EXECUTION_FAILED: return "the GPU program failed to execute";
  }
  return "fake cublas status";
}
#endif
