// Package driver is the lowest layer of the CUDA tensor backend: NVIDIA's
// CUDA driver API (devices, primary contexts, memory, streams, events,
// modules and kernel launches) and cuBLAS's GEMMs, loaded at run time.
//
// # Loading
//
// A small cgo shim dlopens libcuda.so.1 and cuBLAS and resolves their
// symbols with dlsym (the versioned driver names, e.g. cuMemAlloc_v2), so
// building needs no CUDA headers or libraries (only -ldl) and one binary
// runs on machines with and without GPUs. Built with CGO_ENABLED=0 the
// package compiles and every entry point returns an error saying so.
//
// libcuda.so.1 is searched in FDSM_CUDA_LIB_DIR (when set), then by the
// dynamic loader (LD_LIBRARY_PATH, ld.so.cache). cuBLAS, libcublas.so.13
// before libcublas.so.12, is searched in FDSM_CUDA_LIB_DIR, then by the
// dynamic loader, then under each of python3's site-packages directories
// in nvidia/cu13/lib (pip's nvidia-cublas 13.x wheel, as PyTorch cu130
// installs it) and nvidia/cublas/lib (nvidia-cublas-cu12). A library absent
// from FDSM_CUDA_LIB_DIR is looked for further on, since the directory may
// hold only cuBLAS while the driver comes with the system; but a setting
// that names no directory, or a library there that does not load, ends the
// search with an error. The first library that loads is kept for the life
// of the process. When none does, the error lists every place tried with
// the loader's reason and matches ErrNoDriver (or ErrNoBLAS), so a command
// can say "no GPU here" and exit 2; a driver that loads but whose cuInit
// fails (no device visible) gives an error matching ErrInit instead.
//
// # Threading
//
// A CUDA context is current per OS thread, and goroutines move between
// threads, so every call that needs a context makes it current
// (cuCtxSetCurrent) inside the same C call that does the work: no caller
// needs runtime.LockOSThread. Each type's documentation says which of its
// methods may run concurrently.
//
// # Kernels and GEMMs
//
// Kernels take exactly one by-value parameter, a block of up to
// MaxArgWords 8-byte words (Function.Launch). GEMMs are column-major,
// exactly as cuBLAS defines them (Gemm); mapping row-major tensors onto
// them is the backend's job. cuBLAS handles start in MathPedantic mode: no
// TF32 unless asked for with SetMathMode(MathTF32).
//
// Declarations follow NVIDIA's cuda.h of CUDA 12.9/13.0 and cublas_api.h of
// cuBLAS 12/13; the symbol names were checked against Debian's libcuda.so.1
// 535.261.03 and libcublas.so.11.11.3.6.
//
// Status: this package has NOT yet run on a GPU; only against the fake
// libcuda.so.1 and libcublas.so.13 that its tests build from C, and its
// symbol tables against Debian's real libraries (no GPU: cuInit reported
// CUDA_ERROR_NO_DEVICE, as ErrInit). TestGPUSmoke runs it against the real
// libraries where a GPU is visible: build the test binary with go test -c
// and run it there alone, with -test.run GPUSmoke -test.v.
package driver
