// The emulation header: it maps the CUDA vocabulary of kernels/cuda.h onto
// the host, so the emulated device compiles the same .cu sources as C++.
// A launch (registry.cc) runs the kernel once for every (block, thread) of
// the grid, sequentially, with the indices below set for each call; a
// kernel registers itself under its name through KERNEL's static object.
#pragma once

#define FDSM_EMU 1

// No contraction into FMA, as the PTX is built (-ffp-contract=off): the
// emulated results are then the operation-for-operation results the GPU
// gives. (cgo does not accept the flag itself.)
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct emu_dim3 {
	int64_t x, y, z;
};

// The indices of the thread the current call plays (thread-local: several
// emulated streams may launch at once on different OS threads).
struct emu_thread_state {
	emu_dim3 tid, ntid, ctaid, nctaid;
};
extern thread_local emu_thread_state emu_thread;

// A kernel entry takes the argument words and copies them into its struct.
typedef void (*emu_entry)(const uint64_t *words);

struct emu_kernel {
	const char *name;
	size_t bytes; // size of the argument struct
	emu_entry fn;
	emu_kernel *next;
	emu_kernel(const char *name, size_t bytes, emu_entry fn);
};

#define DEVICE static inline
#define CONSTANT
#define KERNEL(name, Args)                                                                  \
	static void name(const Args a);                                                     \
	static void name##_entry(const uint64_t *w) {                                       \
		Args a;                                                                     \
		memcpy(&a, w, sizeof a);                                                    \
		name(a);                                                                    \
	}                                                                                   \
	static emu_kernel name##_kernel(#name, sizeof(Args), name##_entry);                 \
	static_assert(sizeof(Args) % 8 == 0 && sizeof(Args) <= 256, #name ": 1 to 32 words"); \
	static void name(const Args a)

#define TID_X ((int)emu_thread.tid.x)
#define NTID_X ((int)emu_thread.ntid.x)
#define CTAID_X ((int)emu_thread.ctaid.x)
#define NCTAID_X ((int)emu_thread.nctaid.x)

#ifdef __cplusplus
extern "C" {
#endif
// The registry's C interface, for the Go side (registry.cc).
int emu_kernel_count(void);
const char *emu_kernel_name(int i);
size_t emu_kernel_bytes(int i);
void emu_launch(int i, int64_t gx, int64_t gy, int64_t gz, int64_t bx, int64_t by, int64_t bz, const uint64_t *words);
#ifdef __cplusplus
}
#endif
