package devsim

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/tensor/backendtest"
)

func TestConformance(t *testing.T) {
	d := New("devsim:0")
	defer d.Close()
	backendtest.Run(t, d)
}

func mustPanic(t *testing.T, what string, f func(), want ...string) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatalf("%s: no panic", what)
		}
		msg := fmt.Sprint(r)
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Fatalf("%s: panic %q does not mention %q", what, msg, w)
			}
		}
	}()
	f()
}

// TestStrict: a device tensor has no host memory, and a host tensor or
// another device's tensor given to a primitive panics naming the caller.
func TestStrict(t *testing.T) {
	d, other := New("devsim:0"), New("devsim:1")
	defer d.Close()
	defer other.Close()
	x := d.Empty(tensor.Float32, 2, 3)
	mustPanic(t, "Float32s", func() { x.Float32s() }, "device")
	mustPanic(t, "At", func() { x.At(0, 0) }, "device")
	host := tensor.NewCPU().Empty(tensor.Float32, 2, 3)
	mustPanic(t, "host tensor", func() { d.Unary(tensor.OpExp, x, host) }, "host memory", "devsim_test.go")
	y := other.Empty(tensor.Float32, 2, 3)
	mustPanic(t, "other device", func() { d.Copy(x, y) }, "devsim:1", "devsim_test.go")
	// Shape errors panic at the call, not later on the device goroutine.
	mustPanic(t, "shape", func() { d.Binary(tensor.OpAdd, x, x, d.Empty(tensor.Float32, 4)) }, "binary add")
}

// TestAsynchronous: primitives return before their work runs; the host
// waits only in reads, Sync and Event.Wait, each counted.
func TestAsynchronous(t *testing.T) {
	d := New("devsim:0")
	defer d.Close()
	x := d.Empty(tensor.Float64, 4)
	gate := tensor.NewPendingEvent()
	d.WaitFor(gate) // returns at once: the device goroutine waits
	d.Fill(x, 2)
	after := d.Record()
	time.Sleep(10 * time.Millisecond)
	if after.Done() {
		t.Fatal("event after a gated Fill completed before the gate opened")
	}
	before := d.Transfers()
	gate.Complete(nil)
	if err := after.Wait(); err != nil {
		t.Fatal(err)
	}
	if v := x.ToFloat64s(); v[0] != 2 || v[3] != 2 {
		t.Fatalf("read %v after the fill", v)
	}
	got := d.Transfers().Sub(before)
	if got.HostSyncs != 1 || got.D2HBytes != 32 || got.H2DBytes != 0 {
		t.Fatalf("one read of 4 float64s counted %+v", got)
	}
	d.WriteFloat32s(d.Empty(tensor.Float32, 3), []float32{1, 2, 3})
	if h := d.Transfers().Sub(before).H2DBytes; h != 12 {
		t.Fatalf("a write of 3 float32s counted %d bytes", h)
	}
}

// TestKernelFailure: a kernel that fails on the device goroutine (here an
// in-place transpose, which only the kernel can see) is reported by the
// next Sync and by events recorded after it; a read panics rather than
// return what the kernel should have written.
func TestKernelFailure(t *testing.T) {
	d := New("devsim:0")
	defer d.Close()
	x := d.Zeros(tensor.Float32, 3, 3)
	d.Transpose(x, x, []int{1, 0})
	if err := d.Record().Wait(); err == nil || !strings.Contains(err.Error(), "aliases") {
		t.Fatalf("event after the failed kernel: %v", err)
	}
	mustPanic(t, "read after failure", func() { x.ToFloat64s() }, "aliases", "devsim_test.go")
	if err := d.Sync(); err == nil {
		t.Fatal("Sync after a failed kernel returned nil")
	}
	if err := d.Sync(); err != nil {
		t.Fatalf("second Sync still reports %v", err)
	}
}

// TestBitwiseCPU: the same calls with the same seed give the CPU backend's
// bits (the same kernels and Philox draws).
func TestBitwiseCPU(t *testing.T) {
	d := New("devsim:0")
	defer d.Close()
	run := func(be tensor.Backend) []byte {
		rng := tensor.NewRNG(9)
		a, b := be.Empty(tensor.Float32, 64, 33), be.Empty(tensor.Float32, 33, 17)
		be.Random(a, tensor.Normal(0, 1), rng)
		be.Random(b, tensor.Uniform(-1, 1), rng)
		c := be.Empty(tensor.Float32, 64, 17)
		be.Gemm(false, false, 1, a, b, 0, c)
		be.Unary(tensor.OpSoftplus, c, c)
		s := be.Empty(tensor.Float32, 1, 17)
		be.ReduceTo(tensor.ReduceSum, s, c)
		out := make([]byte, s.Bytes())
		be.ReadBytes(out, s)
		return out
	}
	if cpu, dev := run(tensor.NewCPU()), run(d); !bytes.Equal(cpu, dev) {
		t.Fatal("devsim and the CPU backend differ")
	}
}

// TestReleaseIsStreamOrdered: memory released while work on it is still
// queued is not handed to anything that runs before that work, not even
// to the scratch a kernel allocates when it runs (ReduceTo's float64
// accumulators, the same size as T here). Kernels once took their scratch
// from the device pool, and a released T's pending Copy read their sums.
func TestReleaseIsStreamOrdered(t *testing.T) {
	d := New("devsim:0")
	defer d.Close()
	const n = 4096
	x, dst := d.Empty(tensor.Float64, 3, n), d.Empty(tensor.Float64, 1, n) // column sums: float64 scratch of n
	d.Fill(x, 1)
	T, out := d.Empty(tensor.Float64, n), d.Empty(tensor.Float64, n)
	gate := tensor.NewPendingEvent()
	d.WaitFor(gate) // nothing below runs until the host has released T
	d.Fill(T, 5)
	d.ReduceTo(tensor.ReduceSum, dst, x)
	d.Copy(out, T)
	d.Release(T)
	gate.Complete(nil)
	for i, v := range out.ToFloat64s() {
		if v != 5 {
			t.Fatalf("out[%d] = %v: a released tensor's queued work saw another kernel's scratch", i, v)
		}
	}
}
