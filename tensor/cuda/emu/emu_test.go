package emu_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/tensor/cuda"
	"github.com/fdsm-go/fdsm/tensor/cuda/emu"
)

// The emulated device at the Device level: cuBLAS's column-major GEMM
// contract, the argument checks a real driver would not make, events.

func newDevice(t *testing.T) (*emu.Device, cuda.Stream) {
	t.Helper()
	if !emu.Available {
		t.Skip("the emulated device needs cgo")
	}
	d, err := emu.New(emu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := d.NewStream()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, s
}

// upload allocates and fills device memory with float64 values.
func upload(t *testing.T, d *emu.Device, s cuda.Stream, v []float64) cuda.Ptr {
	t.Helper()
	p, err := d.Alloc(int64(8 * len(v)))
	if err != nil {
		t.Fatal(err)
	}
	h, _ := d.HostAlloc(8 * len(v))
	for i, x := range v {
		putF64(h[8*i:], x)
	}
	if err := d.CopyHtoD(p, h, s); err != nil {
		t.Fatal(err)
	}
	return p
}

func download(t *testing.T, d *emu.Device, s cuda.Stream, p cuda.Ptr, n int) []float64 {
	t.Helper()
	h, _ := d.HostAlloc(8 * n)
	if err := d.CopyDtoH(h, p, s); err != nil {
		t.Fatal(err)
	}
	if err := d.StreamSync(s); err != nil {
		t.Fatal(err)
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = getF64(h[8*i:])
	}
	return out
}

// TestGemmColumnMajor: a strided batch of GEMMs with leading dimensions
// larger than the rows, both transposes and a shared operand, against
// cuBLAS's definition written out.
func TestGemmColumnMajor(t *testing.T) {
	d, s := newDevice(t)
	rng := rand.New(rand.NewPCG(1, 1))
	const m, n, k, batch = 3, 4, 5, 2
	for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
		ta, tb := tr[0], tr[1]
		// Stored shapes (column-major): A is m×k, or k×m when transposed.
		ar, ac := m, k
		if ta {
			ar, ac = k, m
		}
		br, bc := k, n
		if tb {
			br, bc = n, k
		}
		lda, ldb, ldc := ar+2, br+1, m+3
		sa, sc := int64(lda*ac), int64(ldc*n)
		av, bv, cv := randv(rng, int(sa)*batch), randv(rng, ldb*bc), randv(rng, int(sc)*batch)
		pa, pb, pc := upload(t, d, s, av), upload(t, d, s, bv), upload(t, d, s, cv)
		g := cuda.GemmOp{DType: tensor.Float64, TransA: ta, TransB: tb, M: m, N: n, K: k, Alpha: 0.5, Beta: -2,
			A: pa, LDA: lda, StrideA: sa, B: pb, LDB: ldb, StrideB: 0, C: pc, LDC: ldc, StrideC: sc, Batch: batch}
		if err := d.Gemm(g, s); err != nil {
			t.Fatal(err)
		}
		got := download(t, d, s, pc, len(cv))
		for e := 0; e < batch; e++ {
			for j := 0; j < n; j++ {
				for i := 0; i < m; i++ {
					sum := 0.0
					for l := 0; l < k; l++ {
						ai, bi := i+l*lda, l+j*ldb
						if ta {
							ai = l + i*lda
						}
						if tb {
							bi = j + l*ldb
						}
						sum += av[int64(e)*sa+int64(ai)] * bv[bi]
					}
					at := int64(e)*sc + int64(i+j*ldc)
					want := 0.5*sum - 2*cv[at]
					if diff := got[at] - want; diff > 1e-12 || diff < -1e-12 {
						t.Errorf("T=%v,%v entry %d C[%d,%d] = %v, want %v", ta, tb, e, i, j, got[at], want)
					}
				}
			}
		}
		// Padding rows of C are untouched.
		if got[m] != cv[m] {
			t.Errorf("GEMM wrote C's padding row: %v, was %v", got[m], cv[m])
		}
	}
}

// TestChecks: what the emulator refuses (a real driver might fault later).
func TestChecks(t *testing.T) {
	d, s := newDevice(t)
	p, _ := d.Alloc(64)
	h, _ := d.HostAlloc(128)
	one, big := cuda.Dim3{X: 1, Y: 1, Z: 1}, cuda.Dim3{X: 2048, Y: 1, Z: 1}
	for _, c := range []struct {
		what string
		err  error
		want string
	}{
		{"copy past the allocation", d.CopyHtoD(p, h, s), "outside every allocation"},
		{"memset past the allocation", d.Memset(p+32, 0, 64, s), "outside every allocation"},
		{"unknown kernel", d.Launch("nope", one, one, nil, s), "no kernel"},
		{"short arguments", d.Launch("fill_f32", one, one, []uint64{1}, s), "takes 3"},
		{"block too large", d.Launch("fill_f32", one, big, make([]uint64, 3), s), "block"},
		{"free of a non-allocation", d.Free(p + 8), "did not return"},
		{"GEMM with a short lda", d.Gemm(cuda.GemmOp{DType: tensor.Float64, M: 2, N: 2, K: 2, A: p, LDA: 1, B: p, LDB: 2,
			C: p, LDC: 2, Batch: 1}, s), "leading dimension"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.what, c.err, c.want)
		}
	}
}

// TestEvents: an event completes when its stream reaches it; a stream
// waiting on it holds back; re-recording moves the mark.
func TestEvents(t *testing.T) {
	d, s := newDevice(t)
	s2, _ := d.NewStream()
	e, _ := d.NewEvent()
	if done, err := d.EventQuery(e); !done || err != nil {
		t.Fatalf("a fresh event: done %v, %v", done, err)
	}
	open, err := d.HostGate(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.RecordEvent(e, s); err != nil {
		t.Fatal(err)
	}
	if done, _ := d.EventQuery(e); done {
		t.Fatal("event behind a closed gate is done")
	}
	e2, _ := d.NewEvent()
	d.StreamWaitEvent(s2, e)
	d.RecordEvent(e2, s2)
	if done, _ := d.EventQuery(e2); done {
		t.Fatal("a stream waiting on a pending event ran past it")
	}
	open()
	open() // a second open does nothing
	if err := d.EventSync(e2); err != nil {
		t.Fatal(err)
	}
	if done, _ := d.EventQuery(e); !done {
		t.Fatal("waited-for event not done")
	}
}

func randv(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}
