//go:build cgo

// The driver half of the shim. Declarations follow NVIDIA's cuda.h of CUDA
// 12.9 and 13.0 (the driver API names, as NVIDIA/cuda-python's generated
// bindings for 12.9 list them; the 12.x to 13.0 API changes touch none of
// these calls). Only facts are taken from it: the exported (versioned)
// symbol names, argument order and types, and the attribute numbers in
// device.go. The names were checked against the exports of Debian's
// libcuda.so.1 535.261.03 (nm -D).

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

typedef int cu_result;              // CUresult: an int-sized enum
typedef int cu_device;              // CUdevice
typedef unsigned long long cu_dptr; // CUdeviceptr on LP64 targets
typedef void *cu_ctx;               // CUcontext and the other handles are
typedef void *cu_stream;            // opaque pointers
typedef void *cu_event;
typedef void *cu_module;
typedef void *cu_function;

_Static_assert(sizeof(cu_dptr) == sizeof(uintptr_t),
               "CUdeviceptr must fit uintptr_t (64-bit targets only)");

struct fdsm_cuda {
  void *handle;
  cu_result (*init)(unsigned);
  cu_result (*driver_get_version)(int *);
  cu_result (*device_get_count)(int *);
  cu_result (*device_get)(cu_device *, int);
  cu_result (*device_get_name)(char *, int, cu_device);
  cu_result (*device_total_mem)(size_t *, cu_device);
  cu_result (*device_get_attribute)(int *, int, cu_device);
  cu_result (*primary_ctx_retain)(cu_ctx *, cu_device);
  cu_result (*primary_ctx_release)(cu_device);
  cu_result (*ctx_set_current)(cu_ctx);
  cu_result (*mem_get_info)(size_t *, size_t *);
  cu_result (*mem_alloc)(cu_dptr *, size_t);
  cu_result (*mem_free)(cu_dptr);
  cu_result (*mem_alloc_host)(void **, size_t);
  cu_result (*mem_free_host)(void *);
  cu_result (*memcpy_htod)(cu_dptr, const void *, size_t, cu_stream);
  cu_result (*memcpy_dtoh)(void *, cu_dptr, size_t, cu_stream);
  cu_result (*memcpy_dtod)(cu_dptr, cu_dptr, size_t, cu_stream);
  cu_result (*memset_d8)(cu_dptr, unsigned char, size_t, cu_stream);
  cu_result (*stream_create)(cu_stream *, unsigned);
  cu_result (*stream_destroy)(cu_stream);
  cu_result (*stream_synchronize)(cu_stream);
  cu_result (*stream_query)(cu_stream);
  cu_result (*stream_wait_event)(cu_stream, cu_event, unsigned);
  cu_result (*event_create)(cu_event *, unsigned);
  cu_result (*event_record)(cu_event, cu_stream);
  cu_result (*event_query)(cu_event);
  cu_result (*event_synchronize)(cu_event);
  cu_result (*event_destroy)(cu_event);
  cu_result (*module_load_data)(cu_module *, const void *);
  cu_result (*module_get_function)(cu_function *, cu_module, const char *);
  cu_result (*module_unload)(cu_module);
  cu_result (*launch_kernel)(cu_function, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, unsigned, cu_stream,
                             void **, void **);
  cu_result (*get_error_name)(cu_result, const char **);
  cu_result (*get_error_string)(cu_result, const char **);
};

#define SYM(name, field, req) {name, offsetof(fdsm_cuda, field), req}

// The _v2 names are the ABI that cuda.h's macros select since CUDA 3.2/4.0;
// the unversioned cuMemFree etc. are the old 32-bit-size entry points.
static const fdsm_symbol driver_symbols[] = {
    SYM("cuInit", init, 1),
    SYM("cuDriverGetVersion", driver_get_version, 1),
    SYM("cuDeviceGetCount", device_get_count, 1),
    SYM("cuDeviceGet", device_get, 1),
    SYM("cuDeviceGetName", device_get_name, 1),
    SYM("cuDeviceTotalMem_v2", device_total_mem, 1),
    SYM("cuDeviceGetAttribute", device_get_attribute, 1),
    SYM("cuDevicePrimaryCtxRetain", primary_ctx_retain, 1),
    SYM("cuDevicePrimaryCtxRelease_v2", primary_ctx_release, 1),
    SYM("cuCtxSetCurrent", ctx_set_current, 1),
    SYM("cuMemGetInfo_v2", mem_get_info, 1),
    SYM("cuMemAlloc_v2", mem_alloc, 1),
    SYM("cuMemFree_v2", mem_free, 1),
    SYM("cuMemAllocHost_v2", mem_alloc_host, 1),
    SYM("cuMemFreeHost", mem_free_host, 1),
    SYM("cuMemcpyHtoDAsync_v2", memcpy_htod, 1),
    SYM("cuMemcpyDtoHAsync_v2", memcpy_dtoh, 1),
    SYM("cuMemcpyDtoDAsync_v2", memcpy_dtod, 1),
    SYM("cuMemsetD8Async", memset_d8, 1), // no _v2: it never had a 32-bit form
    SYM("cuStreamCreate", stream_create, 1),
    SYM("cuStreamDestroy_v2", stream_destroy, 1),
    SYM("cuStreamSynchronize", stream_synchronize, 1),
    SYM("cuStreamQuery", stream_query, 1),
    SYM("cuStreamWaitEvent", stream_wait_event, 1),
    SYM("cuEventCreate", event_create, 1),
    SYM("cuEventRecord", event_record, 1),
    SYM("cuEventQuery", event_query, 1),
    SYM("cuEventSynchronize", event_synchronize, 1),
    SYM("cuEventDestroy_v2", event_destroy, 1),
    SYM("cuModuleLoadData", module_load_data, 1),
    SYM("cuModuleGetFunction", module_get_function, 1),
    SYM("cuModuleUnload", module_unload, 1),
    SYM("cuLaunchKernel", launch_kernel, 1),
    SYM("cuGetErrorName", get_error_name, 0), // error text is a nicety
    SYM("cuGetErrorString", get_error_string, 0),
};

// dlerror is per thread and Go may move between threads from one cgo call
// to the next, so every dlopen/dlsym and its dlerror happen in this call.
void *fdsm_dl_open(const char *path, const fdsm_symbol *syms, size_t nsyms,
                   size_t size, char *err, size_t errlen) {
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    const char *e = dlerror();
    snprintf(err, errlen, "%s", e ? e : "dlopen failed");
    return NULL;
  }
  char *lib = calloc(1, size);
  if (lib == NULL) {
    snprintf(err, errlen, "out of memory");
    dlclose(h);
    return NULL;
  }
  *(void **)lib = h;
  for (size_t i = 0; i < nsyms; i++) {
    dlerror();
    void *p = dlsym(h, syms[i].name);
    if (p == NULL && syms[i].required) {
      const char *e = dlerror();
      snprintf(err, errlen, "missing required symbol %s (%s)", syms[i].name,
               e ? e : "not found");
      free(lib);
      dlclose(h);
      return NULL;
    }
    *(void **)(lib + syms[i].offset) = p;
  }
  return lib;
}

fdsm_cuda *fdsm_cuda_open(const char *path, char *err, size_t errlen) {
  return fdsm_dl_open(path, driver_symbols,
                      sizeof driver_symbols / sizeof driver_symbols[0],
                      sizeof(fdsm_cuda), err, errlen);
}

int fdsm_cu_set_current(fdsm_cuda *l, uintptr_t ctx) {
  return l->ctx_set_current((cu_ctx)ctx);
}

// ENTER makes ctx current on this thread or returns why it could not.
#define ENTER(l, ctx)                                                         \
  do {                                                                        \
    cu_result r_ = fdsm_cu_set_current((l), (ctx));                           \
    if (r_ != 0) return r_ | FDSM_CTX_FAILED;                                 \
  } while (0)

int fdsm_cu_init(fdsm_cuda *l, unsigned flags) { return l->init(flags); }

int fdsm_cu_driver_version(fdsm_cuda *l, int *v) {
  return l->driver_get_version(v);
}

int fdsm_cu_device_count(fdsm_cuda *l, int *n) {
  return l->device_get_count(n);
}

int fdsm_cu_device_get(fdsm_cuda *l, int ordinal, int *dev) {
  return l->device_get(dev, ordinal);
}

int fdsm_cu_device_name(fdsm_cuda *l, int dev, char *name, int len) {
  return l->device_get_name(name, len, dev);
}

int fdsm_cu_device_total_mem(fdsm_cuda *l, int dev, size_t *bytes) {
  return l->device_total_mem(bytes, dev);
}

int fdsm_cu_device_attribute(fdsm_cuda *l, int dev, int attr, int *v) {
  return l->device_get_attribute(v, attr, dev);
}

int fdsm_cu_primary_ctx_retain(fdsm_cuda *l, int dev, uintptr_t *ctx) {
  cu_ctx c = NULL;
  int r = l->primary_ctx_retain(&c, dev);
  *ctx = (uintptr_t)c;
  return r;
}

int fdsm_cu_primary_ctx_release(fdsm_cuda *l, int dev) {
  return l->primary_ctx_release(dev);
}

const char *fdsm_cu_error_name(fdsm_cuda *l, int code) {
  const char *s = NULL;
  if (l->get_error_name == NULL || l->get_error_name(code, &s) != 0) return NULL;
  return s;
}

const char *fdsm_cu_error_string(fdsm_cuda *l, int code) {
  const char *s = NULL;
  if (l->get_error_string == NULL || l->get_error_string(code, &s) != 0)
    return NULL;
  return s;
}

int fdsm_cu_mem_get_info(fdsm_cuda *l, uintptr_t ctx, size_t *free_,
                         size_t *total) {
  ENTER(l, ctx);
  return l->mem_get_info(free_, total);
}

int fdsm_cu_mem_alloc(fdsm_cuda *l, uintptr_t ctx, size_t n, uintptr_t *p) {
  ENTER(l, ctx);
  cu_dptr d = 0;
  int r = l->mem_alloc(&d, n);
  *p = (uintptr_t)d;
  return r;
}

int fdsm_cu_mem_free(fdsm_cuda *l, uintptr_t ctx, uintptr_t p) {
  ENTER(l, ctx);
  return l->mem_free((cu_dptr)p);
}

int fdsm_cu_mem_alloc_host(fdsm_cuda *l, uintptr_t ctx, size_t n, void **p) {
  ENTER(l, ctx);
  *p = NULL;
  return l->mem_alloc_host(p, n);
}

int fdsm_cu_mem_free_host(fdsm_cuda *l, uintptr_t ctx, void *p) {
  ENTER(l, ctx);
  return l->mem_free_host(p);
}

int fdsm_cu_memcpy_htod(fdsm_cuda *l, uintptr_t ctx, uintptr_t dst,
                        const void *src, size_t n, uintptr_t stream) {
  ENTER(l, ctx);
  return l->memcpy_htod((cu_dptr)dst, src, n, (cu_stream)stream);
}

int fdsm_cu_memcpy_dtoh(fdsm_cuda *l, uintptr_t ctx, void *dst, uintptr_t src,
                        size_t n, uintptr_t stream) {
  ENTER(l, ctx);
  return l->memcpy_dtoh(dst, (cu_dptr)src, n, (cu_stream)stream);
}

int fdsm_cu_memcpy_dtod(fdsm_cuda *l, uintptr_t ctx, uintptr_t dst,
                        uintptr_t src, size_t n, uintptr_t stream) {
  ENTER(l, ctx);
  return l->memcpy_dtod((cu_dptr)dst, (cu_dptr)src, n, (cu_stream)stream);
}

int fdsm_cu_memset_d8(fdsm_cuda *l, uintptr_t ctx, uintptr_t dst,
                      unsigned char v, size_t n, uintptr_t stream) {
  ENTER(l, ctx);
  return l->memset_d8((cu_dptr)dst, v, n, (cu_stream)stream);
}

int fdsm_cu_stream_create(fdsm_cuda *l, uintptr_t ctx, unsigned flags,
                          uintptr_t *s) {
  ENTER(l, ctx);
  cu_stream out = NULL;
  int r = l->stream_create(&out, flags);
  *s = (uintptr_t)out;
  return r;
}

int fdsm_cu_stream_destroy(fdsm_cuda *l, uintptr_t ctx, uintptr_t s) {
  ENTER(l, ctx);
  return l->stream_destroy((cu_stream)s);
}

int fdsm_cu_stream_synchronize(fdsm_cuda *l, uintptr_t ctx, uintptr_t s) {
  ENTER(l, ctx);
  return l->stream_synchronize((cu_stream)s);
}

int fdsm_cu_stream_query(fdsm_cuda *l, uintptr_t ctx, uintptr_t s) {
  ENTER(l, ctx);
  return l->stream_query((cu_stream)s);
}

int fdsm_cu_stream_wait_event(fdsm_cuda *l, uintptr_t ctx, uintptr_t s,
                              uintptr_t e) {
  ENTER(l, ctx);
  return l->stream_wait_event((cu_stream)s, (cu_event)e, 0);
}

int fdsm_cu_event_create(fdsm_cuda *l, uintptr_t ctx, unsigned flags,
                         uintptr_t *e) {
  ENTER(l, ctx);
  cu_event out = NULL;
  int r = l->event_create(&out, flags);
  *e = (uintptr_t)out;
  return r;
}

int fdsm_cu_event_record(fdsm_cuda *l, uintptr_t ctx, uintptr_t e,
                         uintptr_t s) {
  ENTER(l, ctx);
  return l->event_record((cu_event)e, (cu_stream)s);
}

int fdsm_cu_event_query(fdsm_cuda *l, uintptr_t ctx, uintptr_t e) {
  ENTER(l, ctx);
  return l->event_query((cu_event)e);
}

int fdsm_cu_event_synchronize(fdsm_cuda *l, uintptr_t ctx, uintptr_t e) {
  ENTER(l, ctx);
  return l->event_synchronize((cu_event)e);
}

int fdsm_cu_event_destroy(fdsm_cuda *l, uintptr_t ctx, uintptr_t e) {
  ENTER(l, ctx);
  return l->event_destroy((cu_event)e);
}

int fdsm_cu_module_load_data(fdsm_cuda *l, uintptr_t ctx, const void *image,
                             uintptr_t *mod) {
  ENTER(l, ctx);
  cu_module out = NULL;
  int r = l->module_load_data(&out, image);
  *mod = (uintptr_t)out;
  return r;
}

int fdsm_cu_module_get_function(fdsm_cuda *l, uintptr_t ctx, uintptr_t mod,
                                const char *name, uintptr_t *fn) {
  ENTER(l, ctx);
  cu_function out = NULL;
  int r = l->module_get_function(&out, (cu_module)mod, name);
  *fn = (uintptr_t)out;
  return r;
}

int fdsm_cu_module_unload(fdsm_cuda *l, uintptr_t ctx, uintptr_t mod) {
  ENTER(l, ctx);
  return l->module_unload((cu_module)mod);
}

// cuLaunchKernel takes one pointer per kernel parameter; our kernels have
// one parameter, the word block, so params holds one pointer to a copy of
// it (a kernel without parameters ignores it). The driver copies parameters
// at launch, so the stack copy may go when this returns. Zero-filling means
// a kernel whose block is longer than nwords reads zeros, not stack garbage.
int fdsm_cu_launch(fdsm_cuda *l, uintptr_t ctx, uintptr_t fn, unsigned gx,
                   unsigned gy, unsigned gz, unsigned bx, unsigned by,
                   unsigned bz, unsigned shared, uintptr_t stream,
                   const uint64_t *words, int nwords) {
  if (nwords < 0 || nwords > FDSM_MAX_WORDS) return 1; // CUDA_ERROR_INVALID_VALUE
  ENTER(l, ctx);
  uint64_t block[FDSM_MAX_WORDS];
  memset(block, 0, sizeof block);
  if (nwords > 0) memcpy(block, words, (size_t)nwords * sizeof block[0]);
  void *params[1] = {block};
  return l->launch_kernel((cu_function)fn, gx, gy, gz, bx, by, bz, shared,
                          (cu_stream)stream, params, NULL);
}
