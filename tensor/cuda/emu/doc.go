// Package emu is an emulated CUDA device: a cuda.Device that runs on the
// host, so the CUDA backend and its kernels are tested without a GPU.
//
//   - Device memory is host memory from C (aligned_alloc; no Go pointer is
//     ever a device address), filled with NaN bytes when allocated so that
//     reading what nothing wrote shows; copies, memsets and GEMMs check
//     that their ranges lie inside allocations (a kernel's own accesses
//     are not checked: one out of bounds may crash the process).
//   - A stream is an in-order queue run by a goroutine of its own. Host
//     copies touch the Go side (page-locked memory here is Go memory) from
//     that goroutine, so host code that reads or reuses staging without
//     waiting for the stream races with it, which -race reports.
//   - Kernels are the same kernels/*.cu sources the PTX is built from,
//     compiled as C++ with emu.h: a launch calls the kernel once for every
//     (block, thread) of the grid, in order, on the stream's goroutine.
//   - GEMM follows cuBLAS's column-major contract with plain loops
//     (gemm.cc), rounding float32 operands to TF32 in MathTF32.
//   - Failures are sticky as CUDA's: Fault makes the context fail as a
//     crashing kernel would, and every later call reports it.
//
// The emulator needs cgo; built without it, New fails and Available is
// false (tests skip).
package emu
