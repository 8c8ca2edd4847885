// A fake libnccl.so.2 for package nccl's tests: no GPU, no NCCL. It exports
// the symbols the shim resolves, behaves as environment variables say, and
// appends what it was asked to do to the file named by FAKE_NCCL_LOG, one
// line per event, for the tests to check.
//
//   FAKE_NCCL_VERSION         ncclGetVersion's code (default 22809)
//   FAKE_NCCL_INIT_RESULT     ncclCommInitRankConfig's result (default 7)
//   FAKE_NCCL_INIT_POLLS      GetAsyncError answers InProgress this many
//                             times after init (-1: forever)
//   FAKE_NCCL_COLL_RESULT     the collectives' result (default 0)
//   FAKE_NCCL_COLL_POLLS      InProgress polls after a collective that
//                             returned 7 (-1: forever)
//   FAKE_NCCL_ASYNC_ERR       after a collective, GetAsyncError reports this
//   FAKE_NCCL_ERR_AFTER       ... after this many Success polls (default 0)
//   FAKE_NCCL_FINALIZE_POLLS  InProgress polls after finalize (-1: forever)
//
// Build with -DFAKE_NO_LAST_ERROR to leave out the optional
// ncclGetLastError, -DFAKE_NO_ALLREDUCE to leave out a required symbol.

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
  unsigned char b[128];
} fake_id;

// The test's own copy of ncclConfig_v22800 (nccl.h 2.28.9).
typedef struct {
  size_t size;
  unsigned magic, version;
  int blocking, cga, min_ctas, max_ctas;
  const char *net_name;
  int split_share, traffic_class;
  const char *comm_name;
  int collnet, cta_policy, shrink_share, nvls_ctas, nch_per_peer, nvl_sched;
} fake_config;

typedef struct {
  int dead;       // aborted or destroyed: any further use is a bug
  int pending;    // InProgress polls left; -1 forever
  int err_code;   // async error to report, 0 none
  int err_after;  // Success polls before err_code shows
  int polls;
} fake_comm;

static int env_int(const char *name, int def) {
  const char *v = getenv(name);
  return v && *v ? atoi(v) : def;
}

static void logf_(const char *fmt, ...) {
  const char *p = getenv("FAKE_NCCL_LOG");
  FILE *f = p ? fopen(p, "a") : NULL;
  if (!f) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(f, fmt, ap);
  va_end(ap);
  fputc('\n', f);
  fclose(f);
}

// check logs a violation when c may not be used now, and says so.
static int check(fake_comm *c, const char *fn) {
  if (c == NULL || c->dead) {
    logf_("violation %s on %s comm", fn, c ? "dead" : "null");
    return 0;
  }
  if (c->pending != 0) {
    logf_("violation %s while in progress", fn);
    return 0;
  }
  return 1;
}

int ncclGetVersion(int *v) {
  *v = env_int("FAKE_NCCL_VERSION", 22809);
  return 0;
}

int ncclGetUniqueId(fake_id *id) {
  for (int i = 0; i < 128; i++) id->b[i] = (unsigned char)(i * 7 + 3);
  return 0;
}

static unsigned fnv1a(const unsigned char *p, int n) {
  unsigned h = 2166136261u;
  for (int i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

static int config_undef(const fake_config *c) {
  return c->cga == INT_MIN && c->min_ctas == INT_MIN &&
         c->max_ctas == INT_MIN && c->net_name == NULL &&
         c->split_share == INT_MIN && c->traffic_class == INT_MIN &&
         c->comm_name == NULL && c->collnet == INT_MIN &&
         c->cta_policy == INT_MIN && c->shrink_share == INT_MIN &&
         c->nvls_ctas == INT_MIN && c->nch_per_peer == INT_MIN &&
         c->nvl_sched == INT_MIN;
}

int ncclCommInitRankConfig(fake_comm **comm, int nranks, fake_id id, int rank,
                           fake_config *cfg) {
  logf_("init nranks=%d rank=%d blocking=%d size=%zu magic=%#x version=%u "
        "undef=%d id=%08x",
        nranks, rank, cfg->blocking, cfg->size, cfg->magic, cfg->version,
        config_undef(cfg), fnv1a(id.b, 128));
  fake_comm *c = calloc(1, sizeof *c);
  c->pending = env_int("FAKE_NCCL_INIT_POLLS", 0);
  *comm = c;
  return env_int("FAKE_NCCL_INIT_RESULT", 7);
}

int ncclCommGetAsyncError(fake_comm *c, int *state) {
  if (c == NULL || c->dead) {
    logf_("violation ncclCommGetAsyncError on %s comm", c ? "dead" : "null");
    *state = 3;
    return 0;
  }
  c->polls++;
  if (c->pending != 0) {
    if (c->pending > 0) c->pending--;
    *state = 7;
  } else if (c->err_code != 0 && c->err_after-- <= 0) {
    *state = c->err_code;
  } else {
    *state = 0;
  }
  logf_("poll %d", *state);
  return 0;
}

int ncclCommAbort(fake_comm *c) {
  logf_("abort polls=%d%s", c ? c->polls : -1, c && c->dead ? " dead" : "");
  if (c) c->dead = 1;
  return 0;
}

int ncclCommFinalize(fake_comm *c) {
  if (!check(c, "ncclCommFinalize")) return 5;
  logf_("finalize");
  c->pending = env_int("FAKE_NCCL_FINALIZE_POLLS", 0);
  return 7;
}

int ncclCommDestroy(fake_comm *c) {
  if (!check(c, "ncclCommDestroy")) return 5;
  logf_("destroy");
  c->dead = 1;
  return 0;
}

// coll logs one collective and sets up what the polls after it report.
static int coll(fake_comm *c, const char *fn) {
  if (!check(c, fn)) return 5;
  int r = env_int("FAKE_NCCL_COLL_RESULT", 0);
  if (r == 7) c->pending = env_int("FAKE_NCCL_COLL_POLLS", 0);
  c->err_code = env_int("FAKE_NCCL_ASYNC_ERR", 0);
  c->err_after = env_int("FAKE_NCCL_ERR_AFTER", 0);
  return r;
}

#ifndef FAKE_NO_ALLREDUCE
int ncclAllReduce(const void *s, void *r, size_t n, int dt, int op,
                  fake_comm *c, void *stream) {
  logf_("allreduce send=%p recv=%p count=%zu dtype=%d op=%d stream=%p", s, r,
        n, dt, op, stream);
  return coll(c, "ncclAllReduce");
}
#endif

int ncclBroadcast(const void *s, void *r, size_t n, int dt, int root,
                  fake_comm *c, void *stream) {
  logf_("broadcast send=%p recv=%p count=%zu dtype=%d root=%d stream=%p", s,
        r, n, dt, root, stream);
  return coll(c, "ncclBroadcast");
}

int ncclAllGather(const void *s, void *r, size_t n, int dt, fake_comm *c,
                  void *stream) {
  logf_("allgather send=%p recv=%p count=%zu dtype=%d stream=%p", s, r, n, dt,
        stream);
  return coll(c, "ncclAllGather");
}

int ncclReduceScatter(const void *s, void *r, size_t n, int dt, int op,
                      fake_comm *c, void *stream) {
  logf_("reducescatter send=%p recv=%p count=%zu dtype=%d op=%d stream=%p", s,
        r, n, dt, op, stream);
  return coll(c, "ncclReduceScatter");
}

const char *ncclGetErrorString(int r) {
  static const char *s[] = {"fake success", "fake unhandled cuda error",
                            "fake system error", "fake internal error",
                            "fake invalid argument", "fake invalid usage",
                            "fake remote error", "fake in progress",
                            "fake timeout"};
  return r >= 0 && r <= 8 ? s[r] : "fake unknown result";
}

#ifndef FAKE_NO_LAST_ERROR
const char *ncclGetLastError(fake_comm *c) {
  if (c && c->dead) logf_("violation ncclGetLastError on dead comm");
  return "fake last error detail";
}
#endif
