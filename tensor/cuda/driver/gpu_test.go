package driver

import (
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"unsafe"
)

// fillPTX is fill_f32 compiled by clang-14 (-x cuda --cuda-device-only
// --cuda-gpu-arch=sm_80 -O3 -S) from:
//
//	struct fill_args { float *dst; unsigned long long n; float value; };
//	extern "C" __global__ void fill_f32(struct fill_args a) {
//	  unsigned long long i = blockIdx.x * blockDim.x + threadIdx.x;
//	  if (i < a.n) a.dst[i] = a.value;
//	}
//
// one by-value parameter of three words, as Launch passes it.
const fillPTX = `.version 7.0
.target sm_80
.address_size 64

    // .globl    fill_f32

.visible .entry fill_f32(
    .param .align 8 .b8 fill_f32_param_0[24]
)
{
    .reg .pred     %p<2>;
    .reg .b32     %r<4>;
    .reg .f32     %f<2>;
    .reg .b64     %rd<11>;

    mov.u32     %r1, %ctaid.x;
    mov.u32     %r2, %ntid.x;
    mul.wide.s32     %rd4, %r1, %r2;
    mov.u32     %r3, %tid.x;
    cvt.s64.s32     %rd5, %r3;
    add.s64     %rd2, %rd4, %rd5;
    ld.param.u64     %rd6, [fill_f32_param_0+8];
    setp.ge.u64     %p1, %rd2, %rd6;
    @%p1 bra     LBB0_2;
    mov.b64     %rd3, fill_f32_param_0;
    mov.u64     %rd1, %rd3;
    ld.param.f32     %f1, [%rd1+16];
    ld.param.u64     %rd7, [%rd1];
    cvta.to.global.u64     %rd8, %rd7;
    shl.b64     %rd9, %rd2, 2;
    add.s64     %rd10, %rd8, %rd9;
    st.global.f32     [%rd10], %f1;
LBB0_2:
    ret;

}
`

// TestGPUSmoke runs the package against the real libcuda.so.1 and cuBLAS
// where a GPU is visible, and skips elsewhere. Build it here with
// "go test -c" and run the binary there with -test.run GPU -test.v.
func TestGPUSmoke(t *testing.T) {
	// dlopen("libcuda.so.1") returns any library of that soname already
	// loaded, so after the fake tests the loader's search finds a fake.
	if maps, _ := os.ReadFile("/proc/self/maps"); strings.Contains(string(maps), fakes.Root()) {
		t.Skip("a fake libcuda.so.1 is loaded in this process; run this test alone (-run GPU)")
	}
	resetDefault(t)
	drv, err := Open()
	if errors.Is(err, ErrNoDriver) || errors.Is(err, ErrInit) {
		t.Skipf("no GPU here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	v, _ := drv.Version()
	n, _ := drv.DeviceCount()
	dev, err := drv.Device(0)
	if err != nil {
		t.Fatal(err)
	}
	info, err := dev.Info()
	t.Logf("driver %s (CUDA %s), %d devices; device 0: %+v, %v", drv.LibraryPath(), VersionString(v), n, info, err)
	c, err := dev.RetainPrimary()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	s, err := c.NewStream(StreamNonBlocking)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	gpuMemory(t, c, s)
	gpuKernel(t, c, s)
	gpuGemm(t, c, s)
}

func gpuMemory(t *testing.T, c *Context, s *Stream) {
	free, total, err := c.MemInfo()
	t.Logf("memory: %d free of %d, %v", free, total, err)
	if _, err := c.Alloc(int(total) * 2); !errors.Is(err, ErrOutOfMemory) {
		t.Errorf("Alloc of twice the device: %v, want ErrOutOfMemory", err)
	}
	h, err := c.AllocHost(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	defer c.FreeHost(h)
	p, _ := c.Alloc(1 << 20)
	q, _ := c.Alloc(1 << 20)
	defer c.Free(p)
	defer c.Free(q)
	for i := range h.Bytes() {
		h.Bytes()[i] = byte(i)
	}
	s.CopyHtoD(p, h.Ptr(), 1<<20)
	s.CopyDtoD(q, p, 1<<20)
	s.Memset(q, 0xab, 16)
	clear(h.Bytes())
	s.CopyDtoH(h.Ptr(), q, 1<<20)
	if err := s.Synchronize(); err != nil {
		t.Fatal(err)
	}
	b := h.Bytes()
	if b[0] != 0xab || b[15] != 0xab || b[16] != 16 || b[1<<20-1] != 0xff {
		t.Errorf("pinned round trip: %v ... %v", b[:20], b[len(b)-4:])
	}
}

func gpuKernel(t *testing.T, c *Context, s *Stream) {
	m, err := c.LoadModule(fillPTX)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Unload()
	fill, err := m.Function("fill_f32")
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	p, _ := c.Alloc(n * 4)
	defer c.Free(p)
	args := []uint64{uint64(p), n, uint64(math.Float32bits(2.5))}
	if err := fill.Launch([3]uint32{(n + 255) / 256, 1, 1}, [3]uint32{256, 1, 1}, 0, s, args); err != nil {
		t.Fatal(err)
	}
	e, _ := c.NewEvent(EventDisableTiming)
	defer e.Destroy()
	e.Record(s)
	if err := e.Synchronize(); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, n)
	s.CopyDtoH(unsafe.Pointer(&got[0]), p, n*4)
	for i, v := range got {
		if v != 2.5 {
			t.Fatalf("fill_f32: element %d = %v, want 2.5", i, v)
		}
	}
}

func gpuGemm(t *testing.T, c *Context, s *Stream) {
	b, err := c.NewBlas()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Destroy()
	ver, _ := b.Version()
	t.Logf("cuBLAS %s, version %d", b.LibraryPath(), ver)
	if err := b.SetStream(s); err != nil {
		t.Fatal(err)
	}
	for _, ta := range []Op{NoTrans, Trans} {
		for _, batch := range []int{0, 3} {
			g, ext := gemmCase(ta, Trans, batch)
			runGemm[float32](t, b, c, s, g, ext, 1e-5) // pedantic: no TF32
			runGemm[float64](t, b, c, s, g, ext, 1e-12)
		}
	}
	if err := b.SetMathMode(MathTF32); err != nil {
		t.Fatal(err)
	}
	g, ext := gemmCase(NoTrans, NoTrans, 0)
	runGemm[float32](t, b, c, s, g, ext, 1e-2) // TF32: 10-bit mantissas
}
