// Package nccl runs collectives on GPU memory through NVIDIA's NCCL,
// loaded at run time: a small cgo shim dlopens libnccl.so.2 and resolves its
// symbols with dlsym, so building needs neither NCCL nor CUDA (only -ldl),
// and a binary runs unchanged on machines without them until NCCL is used.
// Built with CGO_ENABLED=0 the package compiles and every entry point
// returns an error saying so.
//
// The library is searched, in order: the file (or directory) named by
// FDSM_NCCL_LIB, which when set is the only place tried; the dynamic
// loader's own search for libnccl.so.2 (LD_LIBRARY_PATH, ld.so.cache); and
// nvidia/nccl/lib/libnccl.so.2 under each of python3's site-packages
// directories (pip's nvidia-nccl-cu12/cu13 wheels, as PyTorch installs
// them). The first that loads is kept for the life of the process; when
// none does, the error lists every place tried with the loader's reason.
// NCCL_* environment variables reach NCCL untouched.
//
// Comm is a low-level communicator over raw device pointers and a stream
// handle: InitRank creates it non-blocking, collectives return once
// enqueued, and Wait is the watchdog that polls NCCL's asynchronous error
// state and the caller's completion probe, aborting the communicator on
// timeout or error so that every call ends within its timeout.
//
// Status: this package has NOT yet run against a real NCCL on a GPU, only
// against a fake libnccl.so.2 that its tests build from C. The adapter that
// implements collective.Comm over device tensors arrives with the CUDA
// tensor backend.
package nccl
