package tensor

import (
	"math"
	"runtime"
	"testing"
)

// TestGemmParallelSplits checks the row, column and batch splits of
// gemmParallel (sizes above gemmGrain) against a naive float64 product, for
// every transpose combination. Tolerance 10·tol·max(1, |c|): float32 sums of
// k = 96 products of N(0,1) entries err by about k·6e-8 ≈ 6e-6 at worst, so
// 1e-4 is ample yet far below any indexing mistake (errors of order 1).
func TestGemmParallelSplits(t *testing.T) {
	old := runtime.GOMAXPROCS(3) // an odd worker count exercises ragged splits
	defer runtime.GOMAXPROCS(old)
	c := NewCPU()
	rng := NewRNG(1)
	for _, sz := range []struct{ batch, m, n, k int }{{1, 301, 37, 96}, {1, 37, 301, 96}, {2, 150, 130, 96}, {5, 64, 70, 96}} {
		for _, dt := range []DType{Float32, Float64} {
			for _, tA := range []bool{false, true} {
				for _, tB := range []bool{false, true} {
					ash, bsh := []int{sz.m, sz.k}, []int{sz.k, sz.n}
					if tA {
						ash = []int{sz.k, sz.m}
					}
					if tB {
						bsh = []int{sz.n, sz.k}
					}
					csh := []int{sz.m, sz.n}
					if sz.batch > 1 {
						ash, bsh, csh = append([]int{sz.batch}, ash...), append([]int{sz.batch}, bsh...), append([]int{sz.batch}, csh...)
					}
					a, b, out := c.Empty(dt, ash...), c.Empty(dt, bsh...), c.Empty(dt, csh...)
					c.Random(a, Normal(0, 1), rng)
					c.Random(b, Normal(0, 1), rng)
					c.Random(out, Normal(0, 1), rng)
					c0 := out.ToFloat64s()
					c.Gemm(tA, tB, 0.5, a, b, 2, out)
					got, av, bv := out.ToFloat64s(), a.ToFloat64s(), b.ToFloat64s()
					tol := 1e-12
					if dt == Float32 {
						tol = 1e-5
					}
					for bi := 0; bi < sz.batch; bi++ {
						for i := 0; i < sz.m; i++ {
							for j := 0; j < sz.n; j++ {
								s := 0.0
								for p := 0; p < sz.k; p++ {
									ai, bj := i*sz.k+p, p*sz.n+j
									if tA {
										ai = p*sz.m + i
									}
									if tB {
										bj = j*sz.k + p
									}
									s += av[bi*sz.m*sz.k+ai] * bv[bi*sz.k*sz.n+bj]
								}
								o := bi*sz.m*sz.n + i*sz.n + j
								want := 0.5*s + 2*c0[o]
								if math.Abs(got[o]-want) > tol*math.Max(1, math.Abs(want))*10 {
									t.Fatalf("%v %s tA=%v tB=%v: c[%d,%d,%d] = %g, want %g", sz, dt, tA, tB, bi, i, j, got[o], want)
								}
							}
						}
					}
				}
			}
		}
	}
}
