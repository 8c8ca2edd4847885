package tensor

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"
)

// transferCounters are a backend's TransferStats, safe for concurrent use.
type transferCounters struct{ syncs, h2d, d2h atomic.Int64 }

func (c *transferCounters) stats() TransferStats {
	return TransferStats{c.syncs.Load(), c.h2d.Load(), c.d2h.Load()}
}

// The CPU runs every primitive at the call, so its queue is always empty:
// events are complete when recorded, and there is nothing to wait for.
// Reads and Sync still count as host synchronisations, so the counters
// mean the same on every backend.

func (c *CPU) Record() Event            { return CompletedEvent(nil) }
func (c *CPU) WaitFor(e Event)          { _ = e.Wait() }
func (c *CPU) Sync() error              { c.transfers.syncs.Add(1); return nil }
func (c *CPU) Transfers() TransferStats { return c.transfers.stats() }

func (c *CPU) WriteFloat32s(dst *Tensor, src []float32) {
	c.own(dst)
	checkHostCopy("WriteFloat32s", dst, Float32, len(src))
	copy(dst.f32, src)
	c.transfers.h2d.Add(int64(4 * len(src)))
}

func (c *CPU) WriteFloat64s(dst *Tensor, src []float64) {
	c.own(dst)
	checkHostCopy("WriteFloat64s", dst, Float64, len(src))
	copy(dst.f64, src)
	c.transfers.h2d.Add(int64(8 * len(src)))
}

func (c *CPU) WriteBytes(dst *Tensor, src []byte) {
	c.own(dst)
	CheckWrite("WriteBytes", dst, dst.dtype, len(src), true)
	copy(hostBytes(dst), src)
	c.transfers.h2d.Add(int64(len(src)))
}

func (c *CPU) ReadFloat32s(dst []float32, src *Tensor) {
	c.own(src)
	checkHostCopy("ReadFloat32s", src, Float32, len(dst))
	copy(dst, src.f32)
	c.countRead(4 * len(dst))
}

func (c *CPU) ReadFloat64s(dst []float64, src *Tensor) {
	c.own(src)
	checkHostCopy("ReadFloat64s", src, Float64, len(dst))
	copy(dst, src.f64)
	c.countRead(8 * len(dst))
}

func (c *CPU) ReadBytes(dst []byte, src *Tensor) {
	c.own(src)
	CheckRead("ReadBytes", src, src.dtype, len(dst), true)
	copy(dst, hostBytes(src))
	c.countRead(len(dst))
}

func (c *CPU) countRead(n int) {
	c.transfers.syncs.Add(1)
	c.transfers.d2h.Add(int64(n))
}

// checkHostCopy panics unless t has dtype dt and n elements.
func checkHostCopy(op string, t *Tensor, dt DType, n int) {
	if t.dtype != dt {
		panic(fmt.Sprintf("tensor: %s on a %s tensor %v (no conversion: use the %s form, or WriteAs/ToFloat64s)", op, t.dtype, t.shape, t.dtype))
	}
	if n != t.Numel() {
		panic(fmt.Sprintf("tensor: %s of %d elements for %v", op, n, t.shape))
	}
}

// hostBytes views a host tensor's elements as bytes. The engine's byte
// order is little-endian (safetensors, NumPy '<f4'); init refuses a
// big-endian host rather than reorder on every copy.
func hostBytes(t *Tensor) []byte {
	if t.Numel() == 0 {
		return nil
	}
	if t.dtype == Float32 {
		return unsafe.Slice((*byte)(unsafe.Pointer(&t.f32[0])), 4*len(t.f32))
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&t.f64[0])), 8*len(t.f64))
}

func init() {
	var probe [2]byte
	binary.NativeEndian.PutUint16(probe[:], 1)
	if probe[0] != 1 {
		panic("tensor: big-endian hosts are not supported (tensor bytes are little-endian)")
	}
}

// WriteAs writes float64 values into t, converting to t's dtype on the host
// first. For set-up code (tests, tables built on the host); data that
// already has t's dtype goes through the typed Write methods.
func WriteAs(t *Tensor, vals []float64) {
	be := t.Backend()
	if t.dtype == Float64 {
		be.WriteFloat64s(t, vals)
		return
	}
	if len(vals) != t.Numel() {
		panic(fmt.Sprintf("tensor: WriteAs of %d values into %v", len(vals), t.shape))
	}
	f := make([]float32, len(vals))
	for i, v := range vals {
		f[i] = float32(v)
	}
	be.WriteFloat32s(t, f)
}
