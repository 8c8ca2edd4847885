// Package cuda is the CUDA tensor backend: tensor.Backend over a Device,
// the package's interface to one GPU (memory, copies, streams and events,
// kernel launches, cuBLAS GEMMs).
//
// What runs where, and what has been verified:
//
//   - The kernels are CUDA C in kernels/*.cu, compiled by `make kernels`
//     (clang-14, sm_80, no CUDA headers or libdevice) into the PTX files
//     that are committed and embedded here (Modules). Their math is the CPU
//     backend's algorithms (kernels/mathd.h, kernels/mathf.h), so results
//     agree with the CPU to about 1 ulp, and Random's draws bit for bit.
//   - The backend logic and the kernels are verified on the CPU only,
//     through the emulated device of tensor/cuda/emu, which compiles the
//     same .cu sources for the host and runs every launch thread by thread:
//     the conformance suite (tensor/backendtest) passes there, also under
//     the race detector.
//   - The PTX has been generated but has NOT yet run on a GPU, and no real
//     Device exists in this package: the one over the driver binding
//     (tensor/cuda/driver) is wired separately, against the contract of
//     Device. Until it has run the suite on a GPU, every GPU path is
//     unverified.
//
// Execution follows tensor/queue.go on one stream: primitives validate their
// operands at the call and enqueue; reads and Sync synchronise. Memory comes
// from a caching allocator with stream-ordered reuse; host copies go through
// page-locked staging. float32 GEMMs run in float32 (MathFP32) unless
// SetMathMode allows TF32.
package cuda
