// The C side of package nccl: libnccl.so.2 opened with dlopen, each symbol
// resolved with dlsym, and one small wrapper per call. No NCCL or CUDA header
// is needed: shim.c declares the few types itself. Handles and device
// pointers cross the boundary as uintptr_t so Go never holds them as
// pointers.

#ifndef FDSM_NCCL_SHIM_H
#define FDSM_NCCL_SHIM_H

#include <stddef.h>
#include <stdint.h>

// fdsm_nccl is one opened library and its resolved symbols. It is never
// freed once open succeeds: NCCL starts threads that need the code mapped.
typedef struct fdsm_nccl fdsm_nccl;

// fdsm_nccl_open returns NULL and writes why into err (dlerror, or the first
// missing required symbol) when path cannot serve.
fdsm_nccl *fdsm_nccl_open(const char *path, char *err, size_t errlen);

int fdsm_nccl_get_version(fdsm_nccl *l, int *code);
int fdsm_nccl_get_unique_id(fdsm_nccl *l, unsigned char *id);
int fdsm_nccl_init_rank(fdsm_nccl *l, uintptr_t *comm, int nranks,
                        const unsigned char *id, int rank);
int fdsm_nccl_async_error(fdsm_nccl *l, uintptr_t comm, int *state);
int fdsm_nccl_abort(fdsm_nccl *l, uintptr_t comm);
int fdsm_nccl_finalize(fdsm_nccl *l, uintptr_t comm);
int fdsm_nccl_destroy(fdsm_nccl *l, uintptr_t comm);

int fdsm_nccl_all_reduce(fdsm_nccl *l, uintptr_t send, uintptr_t recv,
                         size_t count, int dtype, int op, uintptr_t comm,
                         uintptr_t stream);
int fdsm_nccl_broadcast(fdsm_nccl *l, uintptr_t send, uintptr_t recv,
                        size_t count, int dtype, int root, uintptr_t comm,
                        uintptr_t stream);
int fdsm_nccl_all_gather(fdsm_nccl *l, uintptr_t send, uintptr_t recv,
                         size_t sendcount, int dtype, uintptr_t comm,
                         uintptr_t stream);
int fdsm_nccl_reduce_scatter(fdsm_nccl *l, uintptr_t send, uintptr_t recv,
                             size_t recvcount, int dtype, int op,
                             uintptr_t comm, uintptr_t stream);

// Both return NULL when the library lacks the (optional) symbol.
const char *fdsm_nccl_error_string(fdsm_nccl *l, int result);
const char *fdsm_nccl_last_error(fdsm_nccl *l, uintptr_t comm);

#endif
