package cuda

import (
	"unsafe"

	"github.com/fdsm-go/fdsm/tensor"
)

// Host copies go through page-locked staging: a write copies the caller's
// slice into staging (so the slice is free again when the call returns)
// and enqueues the copy to the device; a read enqueues the copy into
// staging, waits for the stream (a host synchronisation) and copies out.

func (b *Backend) WriteFloat32s(dst *tensor.Tensor, src []float32) {
	tensor.CheckWrite("WriteFloat32s", dst, tensor.Float32, len(src), false)
	b.write(dst, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(src))), 4*len(src)))
}

func (b *Backend) WriteFloat64s(dst *tensor.Tensor, src []float64) {
	tensor.CheckWrite("WriteFloat64s", dst, tensor.Float64, len(src), false)
	b.write(dst, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(src))), 8*len(src)))
}

func (b *Backend) WriteBytes(dst *tensor.Tensor, src []byte) {
	tensor.CheckWrite("WriteBytes", dst, dst.DType(), len(src), true)
	b.write(dst, src)
}

func (b *Backend) ReadFloat32s(dst []float32, src *tensor.Tensor) {
	tensor.CheckRead("ReadFloat32s", src, tensor.Float32, len(dst), false)
	b.read(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), 4*len(dst)), src)
}

func (b *Backend) ReadFloat64s(dst []float64, src *tensor.Tensor) {
	tensor.CheckRead("ReadFloat64s", src, tensor.Float64, len(dst), false)
	b.read(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), 8*len(dst)), src)
}

func (b *Backend) ReadBytes(dst []byte, src *tensor.Tensor) {
	tensor.CheckRead("ReadBytes", src, src.DType(), len(dst), true)
	b.read(dst, src)
}

// write enqueues src into dst's memory, one staging chunk at a time.
func (b *Backend) write(dst *tensor.Tensor, src []byte) {
	p := b.ptr(dst)
	for off := 0; off < len(src); off += b.staging.chunk {
		n := min(b.staging.chunk, len(src)-off)
		sb := b.staging.get(n)
		copy(sb.mem, src[off:off+n])
		b.check(b.dev.CopyHtoD(p.Add(int64(off)), sb.mem[:n], b.s))
		b.staging.put(sb, true)
	}
	b.h2d.Add(int64(len(src)))
}

// read copies src's memory into dst once the work before it has run.
func (b *Backend) read(dst []byte, src *tensor.Tensor) {
	p := b.ptr(src)
	b.syncs.Add(1)
	if len(dst) == 0 {
		b.hostWait()
	}
	for off := 0; off < len(dst); off += b.staging.chunk {
		n := min(b.staging.chunk, len(dst)-off)
		sb := b.staging.get(n)
		b.check(b.dev.CopyDtoH(sb.mem[:n], p.Add(int64(off)), b.s))
		b.hostWait()
		copy(dst[off:off+n], sb.mem[:n])
		b.staging.put(sb, false)
	}
	b.d2h.Add(int64(len(dst)))
}

// Copy copies within the device: a plain copy for one dtype, a conversion
// kernel across dtypes.
func (b *Backend) Copy(dst, src *tensor.Tensor) {
	tensor.CheckCopy(dst, src)
	pd, ps := b.ptr(dst), b.ptr(src)
	n := int64(dst.Numel())
	switch {
	case n == 0:
	case dst.DType() != src.DType():
		b.launch("convert"+suffix(dst.DType())+suffix(src.DType()), n, uint64(pd), uint64(ps), uint64(n))
	case pd != ps:
		b.check(b.dev.CopyDtoD(pd, ps, int64(dst.Bytes()), b.s))
	}
}
