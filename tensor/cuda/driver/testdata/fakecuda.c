// A fake libcuda.so.1 for package driver's tests: no GPU. "Device memory"
// is host malloc, copies are synchronous, streams and events are counters.
// It exports the driver symbols the shim resolves, behaves as environment
// variables say, and appends what it was asked to do to FAKE_CUDA_LOG, one
// line per call: "<thread id> <call> key=value...". A call that needs a
// context logs "ctx=<current> owner=<context of the object it works on>";
// contexts are numbered device ordinal + 1, 0 meaning none.
//
// It is strict where the real driver is, and stricter about one rule: a
// call that needs a context must come right after a cuCtxSetCurrent on the
// same thread, else it logs a "violation" line (the shim promises that).
//
//   FAKE_CUDA_INIT_RESULT        cuInit's result (default 0; 100: no device)
//   FAKE_CUDA_VERSION            cuDriverGetVersion (default 13000)
//   FAKE_CUDA_DEVICES            how many devices (default 1)
//   FAKE_CUDA_MEM_LIMIT          bytes of memory, device and pinned host
//                                together (default 1 MiB); beyond: error 2
//   FAKE_CUDA_BUSY_POLLS         queries answer NOT_READY this many times
//                                after each enqueue (default 0)
//   FAKE_CUDA_SETCURRENT_RESULT  cuCtxSetCurrent's result (default 0)
//
// Build with -DFAKE_NO_ERROR_STRINGS to leave out the optional
// cuGetErrorName/cuGetErrorString, -DFAKE_NO_LAUNCH to leave out the
// required cuLaunchKernel. The fake cuBLAS reaches the helpers at the end
// (fake_cuda_*) through dlsym.

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

enum {
  OK = 0, INVALID_VALUE = 1, OUT_OF_MEMORY = 2, NOT_INITIALIZED = 3,
  NO_DEVICE = 100, INVALID_DEVICE = 101, INVALID_PTX = 218,
  INVALID_CONTEXT = 201, INVALID_HANDLE = 400, NOT_FOUND = 500,
  NOT_READY = 600,
};

#define MAX_DEVICES 4
#define MAX_ALLOCS 4096
#define MAX_KERNELS 8

typedef struct {
  int id; // ordinal + 1
  int refs;
} fake_ctx;

typedef struct {
  uintptr_t base;
  size_t n;
  int ctx, host, live;
} fake_alloc;

enum { STREAM = 0x5757, EVENT = 0xe7e7, MODULE = 0x3030, FUNCTION = 0xf0f0 };

typedef struct {
  int magic, ctx, busy, dead;
} fake_obj; // a stream or an event

typedef struct {
  int magic, ctx, dead, nk;
  struct {
    char name[64];
    int words;
  } k[MAX_KERNELS];
} fake_module;

typedef struct {
  int magic;
  fake_module *mod;
  int k;
} fake_function;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int inited;
static fake_ctx ctxs[MAX_DEVICES];
static fake_alloc allocs[MAX_ALLOCS];
static size_t used;
static __thread fake_ctx *cur; // this thread's current context
static __thread int fresh;     // cuCtxSetCurrent was the last call here

static long env_long(const char *name, long def) {
  const char *v = getenv(name);
  return v && *v ? atol(v) : def;
}

void fake_cuda_logv(const char *fmt, va_list ap) {
  const char *p = getenv("FAKE_CUDA_LOG");
  if (p == NULL) return;
  pthread_mutex_lock(&log_mu);
  FILE *f = fopen(p, "a");
  if (f != NULL) {
    fprintf(f, "%ld ", (long)syscall(SYS_gettid));
    vfprintf(f, fmt, ap);
    fputc('\n', f);
    fclose(f);
  }
  pthread_mutex_unlock(&log_mu);
}

static void logf_(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fake_cuda_logv(fmt, ap);
  va_end(ap);
}

static int devices(void) { return (int)env_long("FAKE_CUDA_DEVICES", 1); }

// enter starts a call that needs a context and returns the current one's
// id, or 0 (the caller then fails with INVALID_CONTEXT, as the driver does).
int fake_cuda_enter(const char *call) {
  if (!fresh) logf_("violation %s without cuCtxSetCurrent just before", call);
  fresh = 0;
  return cur != NULL && cur->refs > 0 ? cur->id : 0;
}

// Device memory. span returns the host address of [p, p+n) when it lies in
// one live allocation of the given kind owned by ctx, else NULL.
void *fake_cuda_span(uintptr_t p, size_t n, int ctx, int host) {
  void *out = NULL;
  pthread_mutex_lock(&mu);
  for (int i = 0; i < MAX_ALLOCS; i++) {
    fake_alloc *a = &allocs[i];
    if (a->live && a->host == host && a->ctx == ctx && p >= a->base &&
        p + n <= a->base + a->n) {
      out = (void *)p;
      break;
    }
  }
  pthread_mutex_unlock(&mu);
  return out;
}

static fake_obj *obj(void *h, int magic) {
  fake_obj *o = h;
  return o != NULL && o->magic == magic && !o->dead ? o : NULL;
}

// stream_ctx is the owner of stream s (the legacy stream 0 belongs to
// whatever context is current), or -1 for a bad handle.
int fake_cuda_stream_ctx(void *s) {
  if (s == NULL) return cur != NULL ? cur->id : 0;
  fake_obj *o = obj(s, STREAM);
  return o != NULL ? o->ctx : -1;
}

int cuInit(unsigned flags) {
  int r = (int)env_long("FAKE_CUDA_INIT_RESULT", 0);
  logf_("cuInit flags=%u result=%d", flags, r);
  if (r == OK) inited = 1;
  return r;
}

int cuDriverGetVersion(int *v) {
  *v = (int)env_long("FAKE_CUDA_VERSION", 13000);
  return OK;
}

int cuDeviceGetCount(int *n) {
  if (!inited) return NOT_INITIALIZED;
  *n = devices();
  return OK;
}

int cuDeviceGet(int *d, int ordinal) {
  if (!inited) return NOT_INITIALIZED;
  if (ordinal < 0 || ordinal >= devices()) return INVALID_DEVICE;
  *d = ordinal;
  return OK;
}

int cuDeviceGetName(char *name, int len, int d) {
  if (!inited) return NOT_INITIALIZED;
  snprintf(name, (size_t)len, "Fake GPU %d", d);
  return OK;
}

int cuDeviceTotalMem_v2(size_t *bytes, int d) {
  if (!inited) return NOT_INITIALIZED;
  (void)d;
  *bytes = (size_t)env_long("FAKE_CUDA_MEM_LIMIT", 1 << 20);
  return OK;
}

// Attributes as an H100 reports them, the PCI bus number per device.
int cuDeviceGetAttribute(int *v, int attr, int d) {
  if (!inited) return NOT_INITIALIZED;
  switch (attr) {
  case 16: *v = 132; return OK;     // multiprocessors
  case 33: *v = 0x1b + d; return OK; // PCI bus
  case 34: *v = 0; return OK;        // PCI device
  case 50: *v = 0; return OK;        // PCI domain
  case 75: *v = 9; return OK;        // compute capability
  case 76: *v = 0; return OK;
  }
  return INVALID_VALUE;
}

int cuDevicePrimaryCtxRetain(fake_ctx **c, int d) {
  if (!inited) return NOT_INITIALIZED;
  if (d < 0 || d >= devices() || d >= MAX_DEVICES) return INVALID_DEVICE;
  pthread_mutex_lock(&mu);
  ctxs[d].id = d + 1;
  int refs = ++ctxs[d].refs;
  pthread_mutex_unlock(&mu);
  logf_("cuDevicePrimaryCtxRetain dev=%d refs=%d", d, refs);
  *c = &ctxs[d];
  return OK;
}

// The last release destroys the context, and with it its memory.
int cuDevicePrimaryCtxRelease_v2(int d) {
  if (d < 0 || d >= devices() || d >= MAX_DEVICES) return INVALID_DEVICE;
  pthread_mutex_lock(&mu);
  int refs = ctxs[d].refs > 0 ? --ctxs[d].refs : -1;
  for (int i = 0; refs == 0 && i < MAX_ALLOCS; i++) {
    fake_alloc *a = &allocs[i];
    if (a->live && a->ctx == d + 1) {
      a->live = 0;
      used -= a->n;
      free((void *)a->base);
    }
  }
  pthread_mutex_unlock(&mu);
  logf_("cuDevicePrimaryCtxRelease_v2 dev=%d refs=%d", d, refs);
  return refs < 0 ? INVALID_CONTEXT : OK;
}

int cuCtxSetCurrent(fake_ctx *c) {
  int r = (int)env_long("FAKE_CUDA_SETCURRENT_RESULT", 0);
  logf_("cuCtxSetCurrent ctx=%d result=%d", c ? c->id : 0, r);
  if (r != OK) return r;
  cur = c;
  fresh = 1;
  return OK;
}

// begin is enter plus the log line every context call writes.
static int begin(const char *call, int owner, const char *detail) {
  int ctx = fake_cuda_enter(call);
  logf_("%s ctx=%d owner=%d %s", call, ctx, owner, detail);
  return ctx;
}

int cuMemGetInfo_v2(size_t *free_, size_t *total) {
  int ctx = begin("cuMemGetInfo_v2", cur ? cur->id : 0, "");
  if (ctx == 0) return INVALID_CONTEXT;
  size_t limit = (size_t)env_long("FAKE_CUDA_MEM_LIMIT", 1 << 20);
  pthread_mutex_lock(&mu);
  *free_ = limit - used;
  pthread_mutex_unlock(&mu);
  *total = limit;
  return OK;
}

static int alloc(const char *call, uintptr_t *p, size_t n, int host) {
  char d[64];
  snprintf(d, sizeof d, "bytes=%zu", n);
  int ctx = begin(call, cur ? cur->id : 0, d);
  if (ctx == 0) return INVALID_CONTEXT;
  if (n == 0) return INVALID_VALUE;
  size_t limit = (size_t)env_long("FAKE_CUDA_MEM_LIMIT", 1 << 20);
  int r = OUT_OF_MEMORY;
  pthread_mutex_lock(&mu);
  for (int i = 0; used + n <= limit && i < MAX_ALLOCS; i++) {
    if (allocs[i].live) continue;
    void *m = malloc(n);
    if (m == NULL) break;
    allocs[i] = (fake_alloc){(uintptr_t)m, n, ctx, host, 1};
    used += n;
    *p = (uintptr_t)m;
    r = OK;
    break;
  }
  pthread_mutex_unlock(&mu);
  return r;
}

static int release(const char *call, uintptr_t p, int host) {
  int ctx = fake_cuda_enter(call);
  int owner = -1, r = INVALID_VALUE;
  pthread_mutex_lock(&mu);
  for (int i = 0; i < MAX_ALLOCS; i++) {
    fake_alloc *a = &allocs[i];
    if (a->live && a->base == p && a->host == host) {
      owner = a->ctx;
      a->live = 0;
      used -= a->n;
      free((void *)a->base);
      r = OK;
      break;
    }
  }
  pthread_mutex_unlock(&mu);
  logf_("%s ctx=%d owner=%d", call, ctx, owner);
  return ctx == 0 ? INVALID_CONTEXT : r;
}

int cuMemAlloc_v2(uintptr_t *p, size_t n) {
  return alloc("cuMemAlloc_v2", p, n, 0);
}

int cuMemFree_v2(uintptr_t p) { return release("cuMemFree_v2", p, 0); }

int cuMemAllocHost_v2(void **p, size_t n) {
  uintptr_t u = 0;
  int r = alloc("cuMemAllocHost_v2", &u, n, 1);
  *p = (void *)u;
  return r;
}

int cuMemFreeHost(void *p) { return release("cuMemFreeHost", (uintptr_t)p, 1); }

// enqueue begins a call on stream s: it checks the stream and marks it
// busy for FAKE_CUDA_BUSY_POLLS queries. It returns the context, or 0 with
// *r set.
static int enqueue(const char *call, void *s, const char *detail, int *r) {
  int owner = fake_cuda_stream_ctx(s);
  int ctx = begin(call, owner, detail);
  *r = ctx == 0 ? INVALID_CONTEXT : owner != ctx ? INVALID_HANDLE : OK;
  if (*r != OK) return 0;
  fake_obj *o = obj(s, STREAM);
  if (o != NULL) o->busy = (int)env_long("FAKE_CUDA_BUSY_POLLS", 0);
  return ctx;
}

static int copy(const char *call, void *dst, const void *src, size_t n) {
  if (dst == NULL || src == NULL) {
    logf_("violation %s outside the context's allocations", call);
    return INVALID_VALUE;
  }
  memmove(dst, src, n);
  return OK;
}

int cuMemcpyHtoDAsync_v2(uintptr_t dst, const void *src, size_t n, void *s) {
  char d[64];
  snprintf(d, sizeof d, "bytes=%zu", n);
  int r, ctx = enqueue("cuMemcpyHtoDAsync_v2", s, d, &r);
  if (r != OK) return r;
  return copy("cuMemcpyHtoDAsync_v2", fake_cuda_span(dst, n, ctx, 0), src, n);
}

int cuMemcpyDtoHAsync_v2(void *dst, uintptr_t src, size_t n, void *s) {
  char d[64];
  snprintf(d, sizeof d, "bytes=%zu", n);
  int r, ctx = enqueue("cuMemcpyDtoHAsync_v2", s, d, &r);
  if (r != OK) return r;
  return copy("cuMemcpyDtoHAsync_v2", dst, fake_cuda_span(src, n, ctx, 0), n);
}

int cuMemcpyDtoDAsync_v2(uintptr_t dst, uintptr_t src, size_t n, void *s) {
  char d[64];
  snprintf(d, sizeof d, "bytes=%zu", n);
  int r, ctx = enqueue("cuMemcpyDtoDAsync_v2", s, d, &r);
  if (r != OK) return r;
  return copy("cuMemcpyDtoDAsync_v2", fake_cuda_span(dst, n, ctx, 0),
              fake_cuda_span(src, n, ctx, 0), n);
}

int cuMemsetD8Async(uintptr_t dst, unsigned char v, size_t n, void *s) {
  char d[64];
  snprintf(d, sizeof d, "bytes=%zu value=%u", n, v);
  int r, ctx = enqueue("cuMemsetD8Async", s, d, &r);
  if (r != OK) return r;
  void *p = fake_cuda_span(dst, n, ctx, 0);
  if (p == NULL) {
    logf_("violation cuMemsetD8Async outside the context's allocations");
    return INVALID_VALUE;
  }
  memset(p, v, n);
  return OK;
}

static void *new_obj(int magic, int ctx) {
  fake_obj *o = calloc(1, sizeof *o);
  o->magic = magic;
  o->ctx = ctx;
  return o;
}

int cuStreamCreate(void **s, unsigned flags) {
  char d[32];
  snprintf(d, sizeof d, "flags=%u", flags);
  int ctx = begin("cuStreamCreate", cur ? cur->id : 0, d);
  if (ctx == 0) return INVALID_CONTEXT;
  *s = new_obj(STREAM, ctx);
  return OK;
}

// on_obj begins a call on a stream or event, checking its handle. The
// objects are never freed, so a destroyed one is still safe to inspect.
static fake_obj *on_obj(const char *call, void *h, int magic, int *r) {
  fake_obj *o = obj(h, magic);
  int ctx = begin(call, o ? o->ctx : -1, "");
  *r = ctx == 0 ? INVALID_CONTEXT : o == NULL ? INVALID_HANDLE : OK;
  return *r == OK ? o : NULL;
}

int cuStreamDestroy_v2(void *s) {
  int r;
  fake_obj *o = on_obj("cuStreamDestroy_v2", s, STREAM, &r);
  if (o != NULL) o->dead = 1;
  return r;
}

int cuStreamSynchronize(void *s) {
  int r;
  fake_obj *o = on_obj("cuStreamSynchronize", s, STREAM, &r);
  if (o != NULL) o->busy = 0;
  return r;
}

// poll answers a query: NOT_READY while the object is busy.
static int poll(fake_obj *o, int r) {
  if (o == NULL) return r;
  if (o->busy > 0) {
    o->busy--;
    return NOT_READY;
  }
  return OK;
}

int cuStreamQuery(void *s) {
  int r;
  return poll(on_obj("cuStreamQuery", s, STREAM, &r), r);
}

int cuStreamWaitEvent(void *s, void *e, unsigned flags) {
  char d[64];
  fake_obj *ev = obj(e, EVENT);
  snprintf(d, sizeof d, "event_ctx=%d flags=%u", ev ? ev->ctx : -1, flags);
  int r;
  enqueue("cuStreamWaitEvent", s, d, &r);
  return r != OK ? r : ev == NULL ? INVALID_HANDLE : OK;
}

int cuEventCreate(void **e, unsigned flags) {
  char d[32];
  snprintf(d, sizeof d, "flags=%u", flags);
  int ctx = begin("cuEventCreate", cur ? cur->id : 0, d);
  if (ctx == 0) return INVALID_CONTEXT;
  *e = new_obj(EVENT, ctx);
  return OK;
}

// Recording copies the stream's busy count: the event completes with the
// work before it.
int cuEventRecord(void *e, void *s) {
  int r;
  fake_obj *o = on_obj("cuEventRecord", e, EVENT, &r);
  fake_obj *so = obj(s, STREAM);
  if (o == NULL) return r;
  if (fake_cuda_stream_ctx(s) != o->ctx) {
    logf_("violation cuEventRecord with a stream of another context");
    return INVALID_HANDLE;
  }
  o->busy = so ? so->busy : 0;
  return OK;
}

int cuEventQuery(void *e) {
  int r;
  return poll(on_obj("cuEventQuery", e, EVENT, &r), r);
}

int cuEventSynchronize(void *e) {
  int r;
  fake_obj *o = on_obj("cuEventSynchronize", e, EVENT, &r);
  if (o != NULL) o->busy = 0;
  return r;
}

int cuEventDestroy_v2(void *e) {
  int r;
  fake_obj *o = on_obj("cuEventDestroy_v2", e, EVENT, &r);
  if (o != NULL) o->dead = 1;
  return r;
}

// A fake PTX image: the line "//fake-ptx" and then ".entry NAME WORDS" per
// kernel, WORDS being the size of its one parameter in 8-byte words.
int cuModuleLoadData(fake_module **m, const char *image) {
  int ctx = begin("cuModuleLoadData", cur ? cur->id : 0, "");
  if (ctx == 0) return INVALID_CONTEXT;
  if (strncmp(image, "//fake-ptx\n", 11) != 0) return INVALID_PTX;
  fake_module *mod = calloc(1, sizeof *mod);
  mod->magic = MODULE;
  mod->ctx = ctx;
  for (const char *p = strstr(image, ".entry "); p && mod->nk < MAX_KERNELS;
       p = strstr(p + 1, ".entry ")) {
    if (sscanf(p, ".entry %63s %d", mod->k[mod->nk].name,
               &mod->k[mod->nk].words) == 2)
      mod->nk++;
  }
  *m = mod;
  return OK;
}

static fake_module *module(fake_module *m) {
  return m != NULL && m->magic == MODULE && !m->dead ? m : NULL;
}

int cuModuleGetFunction(fake_function **f, fake_module *m, const char *name) {
  fake_module *mod = module(m);
  int ctx = begin("cuModuleGetFunction", mod ? mod->ctx : -1, name);
  if (ctx == 0) return INVALID_CONTEXT;
  if (mod == NULL || mod->ctx != ctx) return INVALID_HANDLE;
  for (int i = 0; i < mod->nk; i++) {
    if (strcmp(mod->k[i].name, name) == 0) {
      fake_function *fn = calloc(1, sizeof *fn);
      *fn = (fake_function){FUNCTION, mod, i};
      *f = fn;
      return OK;
    }
  }
  return NOT_FOUND;
}

int cuModuleUnload(fake_module *m) {
  fake_module *mod = module(m);
  int ctx = begin("cuModuleUnload", mod ? mod->ctx : -1, "");
  if (ctx == 0) return INVALID_CONTEXT;
  if (mod == NULL) return INVALID_HANDLE;
  mod->dead = 1;
  return OK;
}

// fill_f32 is the one kernel the fake runs: words (dst, n, value bits) set
// n floats at dst, so a test sees launch arguments reach "device memory".
static int run_fill(const uint64_t *w, int ctx) {
  float *dst = fake_cuda_span((uintptr_t)w[0], w[1] * sizeof(float), ctx, 0);
  if (dst == NULL) {
    logf_("violation fill_f32 outside the context's allocations");
    return 700; // CUDA_ERROR_ILLEGAL_ADDRESS
  }
  uint32_t bits = (uint32_t)w[2];
  float v;
  memcpy(&v, &bits, sizeof v);
  for (uint64_t i = 0; i < w[1]; i++) dst[i] = v;
  return OK;
}

#ifndef FAKE_NO_LAUNCH
int cuLaunchKernel(fake_function *f, unsigned gx, unsigned gy, unsigned gz,
                   unsigned bx, unsigned by, unsigned bz, unsigned shared,
                   void *s, void **params, void **extra) {
  fake_module *mod = f && f->magic == FUNCTION ? module(f->mod) : NULL;
  const char *name = mod ? mod->k[f->k].name : "?";
  int words = mod ? mod->k[f->k].words : 0;
  char d[32 * 17 + 160];
  int n = snprintf(d, 160, "name=%s grid=%u,%u,%u block=%u,%u,%u shared=%u "
                   "extra=%d words=", name, gx, gy, gz, bx, by, bz, shared,
                   extra != NULL);
  // The real driver reads each parameter's size from the kernel; so do we.
  const uint64_t *w = words > 0 && params ? params[0] : NULL;
  for (int i = 0; w && i < words && i < 32; i++)
    n += snprintf(d + n, sizeof d - (size_t)n, "%s%llx", i ? "," : "",
                  (unsigned long long)w[i]);
  int r, ctx = enqueue("cuLaunchKernel", s, d, &r);
  if (r != OK) return r;
  if (mod == NULL || mod->ctx != ctx) return INVALID_HANDLE;
  if (!gx || !gy || !gz || !bx || !by || !bz) return INVALID_VALUE;
  if (words > 0 && w == NULL) return INVALID_VALUE;
  return strcmp(name, "fill_f32") == 0 && words >= 3 ? run_fill(w, ctx) : OK;
}
#endif

#ifndef FAKE_NO_ERROR_STRINGS
static const char *texts[][3] = {
    {"0", "CUDA_SUCCESS", "no error"},
    {"1", "CUDA_ERROR_INVALID_VALUE", "invalid argument"},
    {"2", "CUDA_ERROR_OUT_OF_MEMORY", "out of memory"},
    {"3", "CUDA_ERROR_NOT_INITIALIZED", "initialization error"},
    {"100", "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"},
    {"201", "CUDA_ERROR_INVALID_CONTEXT", "invalid device context"},
    {"218", "CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"},
    {"400", "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"},
    {"500", "CUDA_ERROR_NOT_FOUND", "named symbol not found"},
    {"600", "CUDA_ERROR_NOT_READY", "device not ready"},
};

static int text(int code, int which, const char **s) {
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    if (atoi(texts[i][0]) == code) {
      *s = texts[i][which];
      return OK;
    }
  }
  *s = NULL;
  return INVALID_VALUE;
}

int cuGetErrorName(int code, const char **s) { return text(code, 1, s); }
int cuGetErrorString(int code, const char **s) { return text(code, 2, s); }
#endif
