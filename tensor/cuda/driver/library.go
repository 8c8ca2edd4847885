package driver

import "unsafe"

// driverAPI is one loaded libcuda.so.1: the driver calls this package makes.
// shim.go implements it over dlsym'd symbols; without cgo nothing does.
// Handles and device pointers are uintptr values Go never dereferences.
// Every method taking ctx makes it current on the calling thread inside the
// same C call; a Result from such a method may carry ctxFailedBit.
type driverAPI interface {
	// path is where the library was loaded from (as passed to dlopen).
	path() string
	init(flags uint32) Result
	driverVersion() (int, Result)
	deviceCount() (int, Result)
	deviceGet(ordinal int) (int, Result)
	deviceName(dev int) (string, Result)
	deviceTotalMem(dev int) (int64, Result)
	deviceAttribute(dev int, attr Attribute) (int, Result)
	primaryCtxRetain(dev int) (uintptr, Result)
	primaryCtxRelease(dev int) Result
	// errorName and errorString are "" when the library cannot say.
	errorName(r Result) string
	errorString(r Result) string

	memGetInfo(ctx uintptr) (free, total int64, r Result)
	memAlloc(ctx uintptr, n int) (uintptr, Result)
	memFree(ctx, p uintptr) Result
	memAllocHost(ctx uintptr, n int) (unsafe.Pointer, Result)
	memFreeHost(ctx uintptr, p unsafe.Pointer) Result
	memcpyHtoD(ctx, dst uintptr, src unsafe.Pointer, n int, stream uintptr) Result
	memcpyDtoH(ctx uintptr, dst unsafe.Pointer, src uintptr, n int, stream uintptr) Result
	memcpyDtoD(ctx, dst, src uintptr, n int, stream uintptr) Result
	memsetD8(ctx, dst uintptr, v byte, n int, stream uintptr) Result
	streamCreate(ctx uintptr, flags StreamFlags) (uintptr, Result)
	streamDestroy(ctx, s uintptr) Result
	streamSynchronize(ctx, s uintptr) Result
	streamQuery(ctx, s uintptr) Result
	streamWaitEvent(ctx, s, e uintptr) Result
	eventCreate(ctx uintptr, flags EventFlags) (uintptr, Result)
	eventRecord(ctx, e, s uintptr) Result
	eventQuery(ctx, e uintptr) Result
	eventSynchronize(ctx, e uintptr) Result
	eventDestroy(ctx, e uintptr) Result
	moduleLoadData(ctx uintptr, image string) (uintptr, Result)
	moduleGetFunction(ctx, mod uintptr, name string) (uintptr, Result)
	moduleUnload(ctx, mod uintptr) Result
	launch(ctx, fn uintptr, grid, block [3]uint32, shared uint32, stream uintptr,
		words []uint64) Result
}

// blasAPI is one loaded cuBLAS, bound to the driver that makes contexts
// current for it. A BlasStatus from any method but path and the status
// texts may carry ctxFailedBit, the low bits then being a CUresult.
type blasAPI interface {
	path() string
	create(ctx uintptr) (uintptr, BlasStatus)
	destroy(ctx, h uintptr) BlasStatus
	setStream(ctx, h, stream uintptr) BlasStatus
	setMathMode(ctx, h uintptr, mode MathMode) BlasStatus
	version(ctx, h uintptr) (int, BlasStatus)
	sgemm(ctx, h uintptr, g *gemmArgs, alpha, beta float32) BlasStatus
	dgemm(ctx, h uintptr, g *gemmArgs, alpha, beta float64) BlasStatus
	sgemmBatched(ctx, h uintptr, g *gemmArgs, alpha, beta float32) BlasStatus
	dgemmBatched(ctx, h uintptr, g *gemmArgs, alpha, beta float64) BlasStatus
	// statusName and statusString are "" when the library cannot say.
	statusName(s BlasStatus) string
	statusString(s BlasStatus) string
}
