// The CUDA vocabulary the kernels use, defined here so that the same .cu
// sources compile two ways (no CUDA headers, no libdevice):
//
//   - for the GPU by clang-14 (make kernels): __CUDA_ARCH__ is defined and
//     the macros below map to clang's CUDA attributes and NVVM builtins;
//   - for the host by the emulated device (tensor/cuda/emu), which includes
//     its emu.h first: FDSM_EMU is defined there, with the same macros
//     mapped to thread-local indices set by a sequential launch loop.
//
// Kernel rules (both builds rely on them): every kernel takes one by-value
// struct of 8-byte words (pointers, int64_t, double), at most 32 of them;
// every kernel walks its work with a grid-stride loop, so the result does
// not depend on the grid and block chosen; no shared memory, no
// __syncthreads, no floating-point atomics (reductions are multi-pass).
#pragma once

#include <stdint.h>

#if defined(__CUDA_ARCH__)

#define DEVICE static __attribute__((device)) inline
#define CONSTANT __attribute__((constant))
#define KERNEL(name, Args) extern "C" __attribute__((global)) void name(const Args a)
#define TID_X __nvvm_read_ptx_sreg_tid_x()
#define NTID_X __nvvm_read_ptx_sreg_ntid_x()
#define CTAID_X __nvvm_read_ptx_sreg_ctaid_x()
#define NCTAID_X __nvvm_read_ptx_sreg_nctaid_x()

#elif !defined(FDSM_EMU)
#error "cuda.h: compile with clang -x cuda for the device, or include the emulator's emu.h first"
#endif

static_assert(sizeof(void *) == 8, "kernel arguments are 8-byte words");

// global_index and global_stride drive the grid-stride loops (x axis only).
DEVICE int64_t global_index() { return (int64_t)CTAID_X * NTID_X + TID_X; }
DEVICE int64_t global_stride() { return (int64_t)NCTAID_X * NTID_X; }

// FOR_EACH(i, n) visits i = 0..n-1, each once, whatever the launch shape.
#define FOR_EACH(i, n) for (int64_t i = global_index(); i < (n); i += global_stride())

DEVICE double f64_from_bits(uint64_t b) {
	double d;
	__builtin_memcpy(&d, &b, 8);
	return d;
}

DEVICE uint64_t f64_bits(double d) {
	uint64_t b;
	__builtin_memcpy(&b, &d, 8);
	return b;
}
