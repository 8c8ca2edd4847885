package driver

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

// newBlas makes a cuBLAS handle on device 0 of f, with a stream set.
func newBlas(t *testing.T, f *fake) (*Blas, *Context, *Stream) {
	t.Helper()
	c := f.ctx(0)
	b, err := c.NewBlas()
	if err != nil {
		t.Fatal(err)
	}
	s := f.stream(c)
	if err := b.SetStream(s); err != nil {
		t.Fatal(err)
	}
	return b, c, s
}

// upload copies xs (float32 or float64) to new device memory.
func upload[T float32 | float64](t *testing.T, c *Context, s *Stream, xs []T) DevicePtr {
	t.Helper()
	n := len(xs) * int(unsafe.Sizeof(xs[0]))
	p, err := c.Alloc(n)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CopyHtoD(p, unsafe.Pointer(&xs[0]), n); err != nil {
		t.Fatal(err)
	}
	return p
}

func download[T float32 | float64](t *testing.T, s *Stream, p DevicePtr, n int) []T {
	t.Helper()
	xs := make([]T, n)
	if err := s.CopyDtoH(unsafe.Pointer(&xs[0]), p, n*int(unsafe.Sizeof(xs[0]))); err != nil {
		t.Fatal(err)
	}
	return xs
}

// extent is how many elements a rows×cols column-major matrix with leading
// dimension ld spans.
func extent(rows, cols, ld int) int { return (cols-1)*ld + rows }

// refGemm computes one column-major GEMM in float64, as cuBLAS defines it.
func refGemm(g Gemm, a, b, c []float64, alpha, beta float64) {
	at := func(i, l int) float64 {
		if g.TransA == Trans {
			return a[l+i*g.LDA]
		}
		return a[i+l*g.LDA]
	}
	bt := func(l, j int) float64 {
		if g.TransB == Trans {
			return b[j+l*g.LDB]
		}
		return b[l+j*g.LDB]
	}
	for j := 0; j < g.N; j++ {
		for i := 0; i < g.M; i++ {
			s := 0.0
			for l := 0; l < g.K; l++ {
				s += at(i, l) * bt(l, j)
			}
			old := 0.0
			if beta != 0 {
				old = beta * c[i+j*g.LDC]
			}
			c[i+j*g.LDC] = alpha*s + old
		}
	}
}

// gemmCase is a GEMM with deliberately unequal sizes and padded leading
// dimensions, so that any swapped argument changes the result.
func gemmCase(ta, tb Op, batch int) (Gemm, [3]int) {
	g := Gemm{TransA: ta, TransB: tb, M: 3, N: 4, K: 5, LDC: 3 + 3, Batch: batch}
	ar, ac, br, bc := g.M, g.K, g.K, g.N
	if ta == Trans {
		ar, ac = ac, ar
	}
	if tb == Trans {
		br, bc = bc, br
	}
	g.LDA, g.LDB = ar+2, br+1
	ext := [3]int{extent(ar, ac, g.LDA), extent(br, bc, g.LDB), extent(g.M, g.N, g.LDC)}
	g.StrideA, g.StrideB, g.StrideC = int64(ext[0]+5), int64(ext[1]+3), int64(ext[2]+1)
	return g, ext
}

func randoms(r *rand.Rand, n int) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = r.Float64()*2 - 1
	}
	return xs
}

func convert[T float32 | float64](xs []float64) []T {
	out := make([]T, len(xs))
	for i, x := range xs {
		out[i] = T(x)
	}
	return out
}

// runGemm runs g (batched when g.Batch > 0) in T with b on s and checks
// the result against refGemm, to tol.
func runGemm[T float32 | float64](t *testing.T, b *Blas, c *Context, s *Stream,
	g Gemm, ext [3]int, tol float64) {
	t.Helper()
	batch := max(g.Batch, 1)
	r := rand.New(rand.NewPCG(1, uint64(g.TransA*2+g.TransB)))
	size := func(i int, stride int64) int { return int(stride)*(batch-1) + ext[i] }
	a64, b64, c64 := randoms(r, size(0, g.StrideA)), randoms(r, size(1, g.StrideB)), randoms(r, size(2, g.StrideC))
	g.A = upload(t, c, s, convert[T](a64))
	g.B = upload(t, c, s, convert[T](b64))
	g.C = upload(t, c, s, convert[T](c64))
	var err error
	switch any(T(0)).(type) {
	case float32:
		if g.Batch > 0 {
			err = b.SgemmStridedBatched(g, 1.5, -0.5)
		} else {
			err = b.Sgemm(g, 1.5, -0.5)
		}
	case float64:
		if g.Batch > 0 {
			err = b.DgemmStridedBatched(g, 1.5, -0.5)
		} else {
			err = b.Dgemm(g, 1.5, -0.5)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	want := append([]float64(nil), c64...)
	for i := range batch {
		oa, ob, oc := i*int(g.StrideA), i*int(g.StrideB), i*int(g.StrideC)
		refGemm(g, a64[oa:], b64[ob:], want[oc:], 1.5, -0.5)
	}
	got := download[T](t, s, g.C, len(c64))
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > tol {
			t.Fatalf("C[%d] = %v, want %v (every element, padding included, must match)", i, got[i], want[i])
		}
	}
}

func TestGemmAgainstReference(t *testing.T) {
	f := newFake(t, nil, fakeLibs{})
	for _, ta := range []Op{NoTrans, Trans} {
		for _, tb := range []Op{NoTrans, Trans} {
			for _, batch := range []int{0, 3} {
				t.Run(fmt.Sprintf("ta%d_tb%d_batch%d", ta, tb, batch), func(t *testing.T) {
					g, ext := gemmCase(ta, tb, batch)
					b, c, s := newBlas(t, f)
					runGemm[float32](t, b, c, s, g, ext, 1e-5)
					runGemm[float64](t, b, c, s, g, ext, 1e-12)
				})
			}
		}
	}
	f.checkContexts()
}

func TestGemmArgumentsReachCublas(t *testing.T) {
	f := newFake(t, nil, fakeLibs{})
	g, ext := gemmCase(Trans, NoTrans, 2)
	b, c, s := newBlas(t, f)
	runGemm[float64](t, b, c, s, g, ext, 1e-12)
	l := f.last("cublasDgemmStridedBatched")
	want := fmt.Sprintf("ta=1 tb=0 m=3 n=4 k=5 lda=%d ldb=%d ldc=%d sa=%d sb=%d sc=%d "+
		"batch=2 alpha=1.5 beta=-0.5 math=2",
		g.LDA, g.LDB, g.LDC, g.StrideA, g.StrideB, g.StrideC)
	for _, kv := range strings.Fields(want) {
		k, v, _ := strings.Cut(kv, "=")
		if l.kv[k] != v {
			t.Errorf("cuBLAS got %s=%s, want %s", k, l.kv[k], v)
		}
	}
}

func TestGemmBetaZeroIgnoresC(t *testing.T) {
	f := newFake(t, nil, fakeLibs{})
	b, c, s := newBlas(t, f)
	a := upload(t, c, s, []float32{1, 2, 3, 4}) // 2×2
	nan := float32(math.NaN())
	out := upload(t, c, s, []float32{nan, nan, nan, nan})
	g := Gemm{TransA: NoTrans, TransB: NoTrans, M: 2, N: 2, K: 2, A: a, LDA: 2, B: a, LDB: 2, C: out, LDC: 2}
	if err := b.Sgemm(g, 1, 0); err != nil {
		t.Fatal(err)
	}
	if got := download[float32](t, s, out, 4); fmt.Sprint(got) != "[7 10 15 22]" {
		t.Errorf("A·A with beta 0 over NaN = %v, want [7 10 15 22]", got)
	}
}

func TestBlasHandleSettings(t *testing.T) {
	f := newFake(t, map[string]string{"FAKE_CUDA_DEVICES": "2"}, fakeLibs{})
	b, c, s := newBlas(t, f)
	if m := f.calls("cublasSetMathMode"); len(m) != 1 || m[0].kv["mode"] != "2" {
		t.Errorf("NewBlas set math modes %v, want pedantic (2) once", m)
	}
	if v, err := b.Version(); v != 130101 || err != nil {
		t.Errorf("Version = %d, %v", v, err)
	}
	if p := b.LibraryPath(); p != filepath.Join(f.dir, "libcublas.so.13") {
		t.Errorf("LibraryPath = %q, want the fake in %s", p, EnvLibDir)
	}
	if l := f.last("cublasSetStream_v2"); l.kv["stream"] != fmt.Sprintf("%#x", s.Handle()) {
		t.Errorf("SetStream passed %s, want %#x", l.kv["stream"], s.Handle())
	}
	if err := b.SetMathMode(MathTF32); err != nil {
		t.Fatal(err)
	}
	p := upload(t, c, s, []float32{1})
	b.Sgemm(Gemm{M: 1, N: 1, K: 1, A: p, LDA: 1, B: p, LDB: 1, C: p, LDC: 1}, 1, 0)
	if l := f.last("cublasSgemm_v2"); l.kv["math"] != "3" || l.kv["stream"] != fmt.Sprintf("%#x", s.Handle()) {
		t.Errorf("the GEMM ran with math %s on stream %s", l.kv["math"], l.kv["stream"])
	}
	if err := b.SetStream(nil); err != nil || f.last("cublasSetStream_v2").kv["stream"] != "(nil)" {
		t.Errorf("SetStream(nil): %v, %s", err, f.last("cublasSetStream_v2").text)
	}
	if err := b.SetStream(f.stream(f.ctx(1))); err == nil {
		t.Error("SetStream with another context's stream was accepted")
	}
	if err := b.Destroy(); err != nil {
		t.Fatal(err)
	}
	if err := b.Sgemm(Gemm{}, 1, 0); !errors.Is(err, ErrReleased) {
		t.Errorf("Sgemm after Destroy: %v", err)
	}
	f.checkContexts()
}

func TestGemmErrors(t *testing.T) {
	f := newFake(t, nil, fakeLibs{})
	b, c, s := newBlas(t, f)
	p := upload(t, c, s, make([]float32, 16))
	g := Gemm{M: 4, N: 2, K: 2, A: p, LDA: 3, B: p, LDB: 2, C: p, LDC: 4}
	err := b.Sgemm(g, 1, 0)
	var be *BlasError
	if !errors.As(err, &be) || be.Status != BlasInvalidValue || be.Call != "cublasSgemm_v2" ||
		err.Error() != "cuda: cublasSgemm_v2: CUBLAS_STATUS_INVALID_VALUE (7): "+
			"an invalid value was used as an argument" {
		t.Errorf("LDA 3 < M 4: %v", err)
	}
	n := len(f.calls("cublasSgemm_v2"))
	g.M = math.MaxInt32 + 1
	if err := b.Sgemm(g, 1, 0); err == nil || len(f.calls("cublasSgemm_v2")) != n {
		t.Errorf("M beyond int32: %v; it must not reach cuBLAS", err)
	}
	g.M, g.LDA, g.TransA = 2, 2, 2
	if err := b.Sgemm(g, 1, 0); err == nil {
		t.Error("op 2 (conjugate) was accepted for a real GEMM")
	}
	t.Setenv("FAKE_CUBLAS_GEMM_STATUS", "13")
	g.TransA = NoTrans
	if err := b.Dgemm(g, 1, 0); !errors.As(err, &be) || be.Status != BlasExecutionFailed ||
		be.Name != "CUBLAS_STATUS_EXECUTION_FAILED" || be.Call != "cublasDgemm_v2" {
		t.Errorf("a failing Dgemm: %v", err)
	}
	if !errors.Is(&BlasError{Status: BlasAllocFailed}, ErrOutOfMemory) || errors.Is(be, ErrOutOfMemory) {
		t.Error("only CUBLAS_STATUS_ALLOC_FAILED matches ErrOutOfMemory")
	}
}

func TestBlasStatusNamesOptional(t *testing.T) {
	f := newFake(t, map[string]string{"FAKE_CUBLAS_GEMM_STATUS": "13"},
		fakeLibs{cublas: []string{"-DFAKE_NO_STATUS_STRINGS"}})
	b, _, _ := newBlas(t, f)
	if err := b.Sgemm(Gemm{}, 1, 0); err == nil || err.Error() != "cuda: cublasSgemm_v2: cublasStatus 13" {
		t.Errorf("without cublasGetStatusName: %v", err)
	}
}

func TestBlasMissingRequiredSymbol(t *testing.T) {
	f := newFake(t, nil, fakeLibs{cublas: []string{"-DFAKE_NO_SGEMM"}})
	_, err := f.ctx(0).NewBlas()
	if !errors.Is(err, ErrNoBLAS) || errors.Is(err, ErrNoDriver) {
		t.Fatalf("NewBlas without cublasSgemm_v2: %v, want ErrNoBLAS", err)
	}
	for _, s := range []string{"missing required symbol cublasSgemm_v2",
		"does not load, so nothing else was tried",
		filepath.Join(f.dir, "libcublas.so.13")} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not say %q: %v", s, err)
		}
	}
}

func TestBlasLoadsItsLtFirst(t *testing.T) {
	dir := buildFakes(t, fakeLibs{cublas: []string{"-DFAKE_NEEDS_LT"}})
	// Once any libcublasLt.so.13 is loaded, the loader hands it to every
	// library needing that soname, and this test would prove nothing.
	if maps, _ := os.ReadFile("/proc/self/maps"); strings.Contains(string(maps), "libcublasLt.so.13") {
		t.Skip("a libcublasLt.so.13 is already loaded in this process (-count > 1?)")
	}
	// Without its Lt beside it the library does not load ...
	alone := filepath.Join(t.TempDir(), "libcublas.so.13")
	data, err := os.ReadFile(filepath.Join(dir, "libcublas.so.13"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(alone, data, 0o755); err != nil {
		t.Fatal(err)
	}
	f := newFake(t, nil, fakeLibs{cublas: []string{"-DFAKE_NEEDS_LT"}})
	if _, err := openBlas(alone, f.drv.lib); err == nil || !strings.Contains(err.Error(), "libcublasLt.so.13") {
		t.Fatalf("cuBLAS without its Lt: %v, want an error naming libcublasLt.so.13", err)
	}
	// ... and with it, it does: the shim loads Lt first.
	if _, err := f.ctx(0).NewBlas(); err != nil {
		t.Fatalf("cuBLAS needing libcublasLt.so.13 beside it: %v", err)
	}
	if l := f.last("cublasCreate_v2"); l.kv["lt"] != "13" {
		t.Errorf("create: %s", l.text)
	}
}
