package cuda_test

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/tensor/cuda"
	"github.com/fdsm-go/fdsm/tensor/cuda/emu"
)

// The backend's own behaviour beyond the conformance suite: strictness,
// failures, memory, events across backends, GEMM math modes.

func mustPanic(t *testing.T, what string, f func(), want ...string) any {
	t.Helper()
	var r any
	func() {
		defer func() { r = recover() }()
		f()
	}()
	if r == nil {
		t.Fatalf("%s: no panic", what)
	}
	for _, w := range want {
		if !strings.Contains(fmt.Sprint(r), w) {
			t.Fatalf("%s: panic %q does not mention %q", what, r, w)
		}
	}
	return r
}

// TestStrict: device tensors have no host memory, and a host tensor or
// another backend's panics naming the caller; shape errors panic at the
// call.
func TestStrict(t *testing.T) {
	b, d := newEmu(t, emu.Options{})
	other, err := cuda.New(d, cuda.Options{Name: "cuda-emu:other"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if b.Name() != "cuda-emu:0" {
		t.Errorf("Name %q", b.Name())
	}
	x := b.Empty(tensor.Float32, 2, 3)
	mustPanic(t, "Float32s", func() { x.Float32s() }, "device")
	host := tensor.NewCPU().Empty(tensor.Float32, 2, 3)
	mustPanic(t, "host tensor", func() { b.Unary(tensor.OpExp, x, host) }, "host memory", "backend_test.go")
	y := other.Empty(tensor.Float32, 2, 3)
	mustPanic(t, "other backend", func() { b.Copy(x, y) }, "cuda-emu:other", "backend_test.go")
	mustPanic(t, "shape", func() { b.Binary(tensor.OpAdd, x, x, b.Empty(tensor.Float32, 4)) }, "binary add")
}

// TestAsyncFailure: a failure while the stream runs (a faulting kernel)
// is reported by Sync, by events recorded after it, and by a read, which
// panics rather than return what the kernel should have written.
func TestAsyncFailure(t *testing.T) {
	if !emu.Available {
		t.Skip("the emulated device needs cgo")
	}
	d, _ := emu.New(emu.Options{})
	defer d.Close()
	b, err := cuda.New(d, cuda.Options{})
	if err != nil {
		t.Fatal(err)
	}
	x := b.Zeros(tensor.Float64, 4)
	if err := d.Fault(b.Stream(), errors.New("illegal address")); err != nil {
		t.Fatal(err)
	}
	b.Fill(x, 1) // skipped: the context is dead
	after := b.Record()
	if err := after.Wait(); err == nil || !strings.Contains(err.Error(), "illegal address") {
		t.Errorf("event after the fault: %v, want the fault", err)
	}
	if err := b.Sync(); err == nil || !strings.Contains(err.Error(), "illegal address") {
		t.Errorf("Sync: %v, want the fault", err)
	}
	mustPanic(t, "read after the fault", func() { x.ToFloat64s() }, "illegal address", "backend_test.go")
	if err := b.Close(); err == nil {
		t.Error("Close of a failed device reported nothing")
	}
}

// TestFailedForeignEvent: WaitFor on another backend's event that fails
// makes the next Sync (and events after the wait) report it.
func TestFailedForeignEvent(t *testing.T) {
	b, _ := newEmu(t, emu.Options{})
	early := b.Record()
	gate := tensor.NewPendingEvent()
	b.WaitFor(gate)
	late := b.Record()
	gate.Complete(errors.New("peer failed"))
	if err := late.Wait(); err == nil || !strings.Contains(err.Error(), "peer failed") {
		t.Errorf("event after the wait: %v, want the peer's failure", err)
	}
	if err := early.Wait(); err != nil {
		t.Errorf("event before the wait: %v, want none", err)
	}
	if err := b.Sync(); err == nil || !strings.Contains(err.Error(), "peer failed") {
		t.Errorf("Sync: %v, want the peer's failure", err)
	}
	if err := b.Sync(); err != nil {
		t.Errorf("second Sync: %v, want none", err)
	}
}

// TestWaitForSameDevice: a backend waits for another backend's event on
// the same device on the device (StreamWaitEvent), without blocking.
func TestWaitForSameDevice(t *testing.T) {
	a, d := newEmu(t, emu.Options{})
	b, err := cuda.New(d, cuda.Options{Name: "cuda-emu:b"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	gate := tensor.NewPendingEvent()
	a.WaitFor(gate)
	ea := a.Record()
	b.WaitFor(ea)
	eb := b.Record()
	time.Sleep(10 * time.Millisecond)
	if eb.Done() {
		t.Fatal("b's work ran before a's event")
	}
	gate.Complete(nil)
	if err := eb.Wait(); err != nil {
		t.Fatal(err)
	}
	if !ea.Done() {
		t.Fatal("b's event completed before a's")
	}
}

// TestOutOfMemory: a request the device cannot hold panics with an
// *OutOfMemoryError naming the bytes asked and free; cached blocks are
// freed and the request retried before that.
func TestOutOfMemory(t *testing.T) {
	b, _ := newEmu(t, emu.Options{Memory: 4 << 20})
	x := b.Empty(tensor.Float32, 600_000) // 2.4 MB
	b.Release(x)                          // cached
	y := b.Empty(tensor.Float32, 700_000) // another class: needs the cached block freed
	if s := b.MemStats(); s.PooledBytes != 0 {
		t.Errorf("after the retry %d bytes are still cached", s.PooledBytes)
	}
	r := mustPanic(t, "Empty beyond the device", func() { b.Empty(tensor.Float64, 1_000_000) }, "out of memory", "asked for", "free")
	var oom *cuda.OutOfMemoryError
	if err, ok := r.(error); !ok || !errors.As(err, &oom) || !errors.Is(err, cuda.ErrOutOfMemory) {
		t.Fatalf("panic value %v (%T), want an *OutOfMemoryError", r, r)
	}
	if oom.Asked < 8_000_000 || oom.Free > 4<<20-2_800_000 {
		t.Errorf("error %+v", oom)
	}
	b.Release(y)
	if err := b.Trim(); err != nil || b.MemStats().PooledBytes != 0 {
		t.Errorf("Trim: %v, %d bytes still cached", err, b.MemStats().PooledBytes)
	}
}

// TestSizeClasses: classes never shrink a request, waste at most 12.5%
// above 1 MiB, and are shared by nearby sizes.
func TestSizeClasses(t *testing.T) {
	for _, n := range []int64{1, 511, 512, 513, 1 << 20, 1<<20 + 1, 3 << 20, 5<<20 + 7, 1 << 30} {
		c := cuda.SizeClass(n)
		if c < n || (n > 1<<20 && float64(c-n) > 0.125*float64(n)) || (n <= 1<<20 && c-n >= 512) {
			t.Errorf("class of %d is %d", n, c)
		}
	}
	if cuda.SizeClass(5<<20+7) != cuda.SizeClass(5<<20+1000) {
		t.Error("nearby large sizes do not share a class")
	}
}

// TestTF32: MathTF32 changes float32 GEMMs to TF32 products (about 1e-3
// relative), MathFP32 restores float32.
func TestTF32(t *testing.T) {
	b, _ := newEmu(t, emu.Options{})
	const k = 64
	av, bv := make([]float64, k), make([]float64, k)
	want := 0.0
	for i := range av {
		av[i], bv[i] = 1+float64(i)/3, 1-float64(i)/7
		want += float64(float32(av[i])) * float64(float32(bv[i]))
	}
	a := tensor.FromFloat64s(b, tensor.Float32, tensor.Shape{1, k}, av)
	bm := tensor.FromFloat64s(b, tensor.Float32, tensor.Shape{k, 1}, bv)
	c := b.Empty(tensor.Float32, 1, 1)
	run := func(m cuda.MathMode) float64 {
		if err := b.SetMathMode(m); err != nil {
			t.Fatal(err)
		}
		b.Gemm(false, false, 1, a, bm, 0, c)
		return c.Item()
	}
	fp32, tf32 := run(cuda.MathFP32), run(cuda.MathTF32)
	if math.Abs(fp32-want) > 1e-5*math.Abs(want) {
		t.Errorf("float32 GEMM %v, want %v", fp32, want)
	}
	if tf32 == fp32 || math.Abs(tf32-want) > 2e-3*math.Abs(want) {
		t.Errorf("TF32 GEMM %v (float32 %v, exact %v)", tf32, fp32, want)
	}
	if back := run(cuda.MathFP32); back != fp32 {
		t.Errorf("back in MathFP32: %v, want %v", back, fp32)
	}

	// A lane on the device keeps the mode the first backend chose (--tf32).
	run(cuda.MathTF32)
	lane, err := cuda.New(b.Device(), cuda.Options{Name: "cuda-emu:0/1", Lane: true})
	if err != nil {
		t.Fatal(err)
	}
	defer lane.Close()
	b.Gemm(false, false, 1, a, bm, 0, c)
	if got := c.Item(); got != tf32 {
		t.Errorf("after a lane was made, the GEMM gave %v, want TF32's %v", got, tf32)
	}
}

// TestSolveIsOneSync: Solve reads only its status (one host
// synchronisation, no Read traffic).
func TestSolveIsOneSync(t *testing.T) {
	b, _ := newEmu(t, emu.Options{})
	a := tensor.FromFloat64s(b, tensor.Float64, tensor.Shape{2, 2}, []float64{2, 1, 1, 3})
	r := tensor.FromFloat64s(b, tensor.Float64, tensor.Shape{2}, []float64{3, 5})
	x := b.Empty(tensor.Float64, 2)
	before := b.Transfers()
	if err := b.Solve(x, a, r); err != nil {
		t.Fatal(err)
	}
	if d := b.Transfers().Sub(before); d.HostSyncs != 1 || d.D2HBytes != 0 || d.H2DBytes != 0 {
		t.Errorf("Solve cost %+v, want one host sync", d)
	}
	got := x.ToFloat64s()
	if math.Abs(got[0]-0.8) > 1e-15 || math.Abs(got[1]-1.4) > 1e-15 {
		t.Errorf("x = %v, want [0.8 1.4]", got)
	}
}

// TestWritesAreAsynchronous: a write returns before the copy runs (the
// stream is held by a gate), and the caller's slice is free at once.
func TestWritesAreAsynchronous(t *testing.T) {
	b, _ := newEmu(t, emu.Options{})
	x := b.Empty(tensor.Float32, 3)
	gate := tensor.NewPendingEvent()
	b.WaitFor(gate)
	src := []float32{1, 2, 3}
	b.WriteFloat32s(x, src)
	src[0] = 99
	e := b.Record()
	time.Sleep(5 * time.Millisecond)
	if e.Done() {
		t.Fatal("the write ran before the gate opened")
	}
	gate.Complete(nil)
	if got := x.ToFloat64s(); got[0] != 1 || got[2] != 3 {
		t.Errorf("read %v, want [1 2 3]", got)
	}
}

// TestLargeCopiesInChunks: host copies larger than a staging chunk go in
// pieces and arrive whole.
func TestLargeCopiesInChunks(t *testing.T) {
	if !emu.Available {
		t.Skip("the emulated device needs cgo")
	}
	d, _ := emu.New(emu.Options{})
	defer d.Close()
	b, err := cuda.New(d, cuda.Options{StagingChunk: 4096, StagingCache: 8192})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	v := make([]float64, 10_000)
	for i := range v {
		v[i] = float64(i) * 1.5
	}
	x := b.Empty(tensor.Float64, len(v))
	b.WriteFloat64s(x, v)
	got := make([]float64, len(v))
	b.ReadFloat64s(got, x)
	for i := range v {
		if got[i] != v[i] {
			t.Fatalf("element %d: %v, want %v", i, got[i], v[i])
		}
	}
}

// TestStagingWaitsForCopies: back-to-back writes while the stream is held
// each keep their staging until their copy has run, so neither sees the
// other's data.
func TestStagingWaitsForCopies(t *testing.T) {
	b, _ := newEmu(t, emu.Options{})
	x, y := b.Empty(tensor.Float64, 100), b.Empty(tensor.Float64, 100)
	gate := tensor.NewPendingEvent()
	b.WaitFor(gate)
	b.WriteFloat64s(x, constant(100, 1))
	b.WriteFloat64s(y, constant(100, 2))
	gate.Complete(nil)
	if gx, gy := x.ToFloat64s(), y.ToFloat64s(); gx[0] != 1 || gy[99] != 2 {
		t.Errorf("x[0] = %v, y[99] = %v; want 1 and 2", gx[0], gy[99])
	}
}

func constant(n int, v float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// TestConcurrentUse: goroutines sharing the backend, each on its own
// tensors (run it under -race): allocation, staging and the stream are
// safe for concurrent use, and events outlive nothing they need.
func TestConcurrentUse(t *testing.T) {
	b, _ := newEmu(t, emu.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				n := 50 + 17*g + i
				x := tensor.FromFloat64s(b, tensor.Float32, tensor.Shape{n}, constant(n, float64(g)))
				y := b.Empty(tensor.Float32, n)
				b.ScalarOp(tensor.OpAdd, y, x, 1, false)
				s := b.Empty(tensor.Float32)
				b.ReduceTo(tensor.ReduceSum, s, y)
				if err := b.Record().Wait(); err != nil {
					errs <- err
					return
				}
				if got, want := s.Item(), float64(n*(g+1)); got != want {
					errs <- fmt.Errorf("goroutine %d: sum %v, want %v", g, got, want)
					return
				}
				b.Release(x)
				b.Release(y)
				b.Release(s)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	runtime.GC() // recorded events go back to the pool
	if err := b.Record().Wait(); err != nil {
		t.Error(err)
	}
}
