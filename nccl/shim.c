//go:build cgo

// Declarations follow NVIDIA/nccl src/nccl.h.in at tag v2.28.9-1 (the NCCL
// in the nvidia-nccl-cu13 wheel that PyTorch 2.11 pins). Only facts (type
// sizes, enum values, the ncclConfig_t field order) are taken from it.

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

// ncclUniqueId: 128 opaque bytes, passed by value to ncclCommInitRankConfig.
// Declaring the same struct lets the C compiler apply the ABI's rule for
// large by-value structs exactly as NCCL's own callers do.
typedef struct {
  char bytes[128];
} nccl_id;

typedef void *nccl_comm;   // ncclComm_t: opaque pointer
typedef void *cuda_stream; // cudaStream_t: opaque pointer

// ncclConfig_t as of NCCL 2.28 (ncclConfig_v22800). NCCL reads min(size,
// its own sizeof) bytes and defaults fields newer than .version, so this
// layout stays valid for older (>= 2.14) and newer libraries.
typedef struct {
  size_t size;
  unsigned int magic;
  unsigned int version;
  int blocking;
  int cga_cluster_size;
  int min_ctas;
  int max_ctas;
  const char *net_name;
  int split_share;
  int traffic_class;
  const char *comm_name;
  int collnet_enable;
  int cta_policy;
  int shrink_share;
  int nvls_ctas;
  int n_channels_per_net_peer;
  int nvlink_centric_sched;
} nccl_config;

// The layout assumption, checked at compile time on LP64 targets (NCCL
// ships for x86_64 and aarch64 Linux only).
_Static_assert(sizeof(nccl_id) == 128, "ncclUniqueId is 128 bytes");
#if UINTPTR_MAX == 0xffffffffffffffffu
_Static_assert(offsetof(nccl_config, blocking) == 16, "blocking offset");
_Static_assert(offsetof(nccl_config, net_name) == 32, "netName offset");
_Static_assert(offsetof(nccl_config, comm_name) == 48, "commName offset");
_Static_assert(sizeof(nccl_config) == 80, "ncclConfig_v22800 size");
#endif

#define CONFIG_MAGIC 0xcafebeefu
#define CONFIG_VERSION 22809 // NCCL_VERSION(2, 28, 9): the header we follow
#define CONFIG_UNDEF_INT INT_MIN

struct fdsm_nccl {
  void *handle;
  int (*get_version)(int *);
  int (*get_unique_id)(nccl_id *);
  int (*init_rank_config)(nccl_comm *, int, nccl_id, int, nccl_config *);
  int (*async_error)(nccl_comm, int *);
  int (*abort)(nccl_comm);
  int (*finalize)(nccl_comm);
  int (*destroy)(nccl_comm);
  int (*all_reduce)(const void *, void *, size_t, int, int, nccl_comm,
                    cuda_stream);
  int (*broadcast)(const void *, void *, size_t, int, int, nccl_comm,
                   cuda_stream);
  int (*all_gather)(const void *, void *, size_t, int, nccl_comm,
                    cuda_stream);
  int (*reduce_scatter)(const void *, void *, size_t, int, int, nccl_comm,
                        cuda_stream);
  const char *(*error_string)(int);
  const char *(*last_error)(nccl_comm); // optional (NCCL >= 2.13)
};

// One row per symbol: where its address goes in struct fdsm_nccl.
static const struct {
  const char *name;
  size_t offset;
  int required;
} symbols[] = {
    {"ncclGetVersion", offsetof(fdsm_nccl, get_version), 1},
    {"ncclGetUniqueId", offsetof(fdsm_nccl, get_unique_id), 1},
    {"ncclCommInitRankConfig", offsetof(fdsm_nccl, init_rank_config), 1},
    {"ncclCommGetAsyncError", offsetof(fdsm_nccl, async_error), 1},
    {"ncclCommAbort", offsetof(fdsm_nccl, abort), 1},
    {"ncclCommFinalize", offsetof(fdsm_nccl, finalize), 1},
    {"ncclCommDestroy", offsetof(fdsm_nccl, destroy), 1},
    {"ncclAllReduce", offsetof(fdsm_nccl, all_reduce), 1},
    {"ncclBroadcast", offsetof(fdsm_nccl, broadcast), 1},
    {"ncclAllGather", offsetof(fdsm_nccl, all_gather), 1},
    {"ncclReduceScatter", offsetof(fdsm_nccl, reduce_scatter), 1},
    {"ncclGetErrorString", offsetof(fdsm_nccl, error_string), 1},
    {"ncclGetLastError", offsetof(fdsm_nccl, last_error), 0},
};

// dlerror is per thread and Go may move between threads from one cgo call
// to the next, so every dlopen/dlsym and its dlerror happen in this call.
fdsm_nccl *fdsm_nccl_open(const char *path, char *err, size_t errlen) {
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    const char *e = dlerror();
    snprintf(err, errlen, "%s", e ? e : "dlopen failed");
    return NULL;
  }
  fdsm_nccl *l = calloc(1, sizeof *l);
  if (l == NULL) {
    snprintf(err, errlen, "out of memory");
    dlclose(h);
    return NULL;
  }
  l->handle = h;
  for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
    dlerror();
    void *p = dlsym(h, symbols[i].name);
    if (p == NULL && symbols[i].required) {
      const char *e = dlerror();
      snprintf(err, errlen, "missing required symbol %s (%s)",
               symbols[i].name, e ? e : "not found");
      free(l);
      dlclose(h);
      return NULL;
    }
    *(void **)((char *)l + symbols[i].offset) = p;
  }
  return l;
}

int fdsm_nccl_get_version(fdsm_nccl *l, int *code) {
  return l->get_version(code);
}

int fdsm_nccl_get_unique_id(fdsm_nccl *l, unsigned char *id) {
  nccl_id v;
  int r = l->get_unique_id(&v);
  memcpy(id, v.bytes, sizeof v.bytes);
  return r;
}

// Non-blocking init: NCCL returns at once (usually ncclInProgress) and the
// caller polls ncclCommGetAsyncError. Every other field is left undefined,
// as NCCL_CONFIG_INITIALIZER does, so NCCL (and NCCL_* variables) decide.
int fdsm_nccl_init_rank(fdsm_nccl *l, uintptr_t *comm, int nranks,
                        const unsigned char *id, int rank) {
  nccl_config c = {
      .size = sizeof c,
      .magic = CONFIG_MAGIC,
      .version = CONFIG_VERSION,
      .blocking = 0,
      .cga_cluster_size = CONFIG_UNDEF_INT,
      .min_ctas = CONFIG_UNDEF_INT,
      .max_ctas = CONFIG_UNDEF_INT,
      .net_name = NULL,
      .split_share = CONFIG_UNDEF_INT,
      .traffic_class = CONFIG_UNDEF_INT,
      .comm_name = NULL,
      .collnet_enable = CONFIG_UNDEF_INT,
      .cta_policy = CONFIG_UNDEF_INT,
      .shrink_share = CONFIG_UNDEF_INT,
      .nvls_ctas = CONFIG_UNDEF_INT,
      .n_channels_per_net_peer = CONFIG_UNDEF_INT,
      .nvlink_centric_sched = CONFIG_UNDEF_INT,
  };
  nccl_id v;
  memcpy(v.bytes, id, sizeof v.bytes);
  nccl_comm out = NULL;
  int r = l->init_rank_config(&out, nranks, v, rank, &c);
  *comm = (uintptr_t)out;
  return r;
}

int fdsm_nccl_async_error(fdsm_nccl *l, uintptr_t comm, int *state) {
  return l->async_error((nccl_comm)comm, state);
}

int fdsm_nccl_abort(fdsm_nccl *l, uintptr_t comm) {
  return l->abort((nccl_comm)comm);
}

int fdsm_nccl_finalize(fdsm_nccl *l, uintptr_t comm) {
  return l->finalize((nccl_comm)comm);
}

int fdsm_nccl_destroy(fdsm_nccl *l, uintptr_t comm) {
  return l->destroy((nccl_comm)comm);
}

int fdsm_nccl_all_reduce(fdsm_nccl *l, uintptr_t send, uintptr_t recv,
                         size_t count, int dtype, int op, uintptr_t comm,
                         uintptr_t stream) {
  return l->all_reduce((const void *)send, (void *)recv, count, dtype, op,
                       (nccl_comm)comm, (cuda_stream)stream);
}

int fdsm_nccl_broadcast(fdsm_nccl *l, uintptr_t send, uintptr_t recv,
                        size_t count, int dtype, int root, uintptr_t comm,
                        uintptr_t stream) {
  return l->broadcast((const void *)send, (void *)recv, count, dtype, root,
                      (nccl_comm)comm, (cuda_stream)stream);
}

int fdsm_nccl_all_gather(fdsm_nccl *l, uintptr_t send, uintptr_t recv,
                         size_t sendcount, int dtype, uintptr_t comm,
                         uintptr_t stream) {
  return l->all_gather((const void *)send, (void *)recv, sendcount, dtype,
                       (nccl_comm)comm, (cuda_stream)stream);
}

int fdsm_nccl_reduce_scatter(fdsm_nccl *l, uintptr_t send, uintptr_t recv,
                             size_t recvcount, int dtype, int op,
                             uintptr_t comm, uintptr_t stream) {
  return l->reduce_scatter((const void *)send, (void *)recv, recvcount, dtype,
                           op, (nccl_comm)comm, (cuda_stream)stream);
}

const char *fdsm_nccl_error_string(fdsm_nccl *l, int result) {
  return l->error_string ? l->error_string(result) : NULL;
}

const char *fdsm_nccl_last_error(fdsm_nccl *l, uintptr_t comm) {
  return l->last_error ? l->last_error((nccl_comm)comm) : NULL;
}
