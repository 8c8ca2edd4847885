package nccl

// library is one loaded libnccl.so.2: the NCCL calls this package makes.
// shim.go implements it over dlsym'd symbols; without cgo nothing does.
// Handles (ncclComm_t), device pointers and streams are uintptr values that
// Go never dereferences.
type library interface {
	// path is where the library was loaded from.
	path() string
	getVersion() (int, Result)
	getUniqueID() (UniqueID, Result)
	// initRank calls ncclCommInitRankConfig with blocking = 0.
	initRank(id UniqueID, nranks, rank int) (uintptr, Result)
	asyncError(comm uintptr) (state, r Result)
	abort(comm uintptr) Result
	finalize(comm uintptr) Result
	destroy(comm uintptr) Result
	allReduce(send, recv uintptr, count int, dt, op int, comm, stream uintptr) Result
	broadcast(send, recv uintptr, count int, dt, root int, comm, stream uintptr) Result
	allGather(send, recv uintptr, sendCount int, dt int, comm, stream uintptr) Result
	reduceScatter(send, recv uintptr, recvCount int, dt, op int, comm, stream uintptr) Result
	// errorString is ncclGetErrorString.
	errorString(r Result) string
	// lastError is ncclGetLastError, or "" when the library lacks it.
	lastError(comm uintptr) string
}
