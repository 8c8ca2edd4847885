package driver

import (
	"fmt"
	"math"
)

// Gemm describes C = alpha·op(A)·op(B) + beta·C exactly as cuBLAS takes
// it: column-major, op(A) is M×K, op(B) is K×N, C is M×N, each matrix with
// its leading dimension (elements between the starts of two columns, at
// least its row count). Row-major storage read as column-major is the
// transpose, so a row-major C = op(A)·op(B) is the column-major
// C^T = op(B)^T·op(A)^T: swap A with B (each keeping its own transpose flag
// and leading dimension, now its row stride) and M with N. That mapping is
// the backend's job.
//
// The strides (elements between consecutive matrices) and Batch are read
// by the strided-batched calls only. With beta = 0, C is not read.
type Gemm struct {
	TransA, TransB Op
	M, N, K        int
	A              DevicePtr
	LDA            int
	StrideA        int64
	B              DevicePtr
	LDB            int
	StrideB        int64
	C              DevicePtr
	LDC            int
	StrideC        int64
	Batch          int
}

// gemmArgs is a Gemm whose sizes were checked to fit cuBLAS's int.
type gemmArgs struct {
	transA, transB            int
	m, n, k, lda, ldb, ldc    int32
	a, b, c                   uintptr
	strideA, strideB, strideC int64
	batch                     int32
}

func (g Gemm) args(batched bool) (*gemmArgs, error) {
	dims := []int{g.M, g.N, g.K, g.LDA, g.LDB, g.LDC}
	if batched {
		dims = append(dims, g.Batch)
	}
	for _, d := range dims {
		if d < 0 || d > math.MaxInt32 {
			return nil, fmt.Errorf("cuda: gemm size %d does not fit cuBLAS's 32-bit int", d)
		}
	}
	for _, op := range []Op{g.TransA, g.TransB} {
		if op != NoTrans && op != Trans {
			return nil, fmt.Errorf("cuda: gemm op %d is neither NoTrans nor Trans", int(op))
		}
	}
	return &gemmArgs{
		transA: int(g.TransA), transB: int(g.TransB),
		m: int32(g.M), n: int32(g.N), k: int32(g.K),
		lda: int32(g.LDA), ldb: int32(g.LDB), ldc: int32(g.LDC),
		a: uintptr(g.A), b: uintptr(g.B), c: uintptr(g.C),
		strideA: g.StrideA, strideB: g.StrideB, strideC: g.StrideC,
		batch: int32(g.Batch),
	}, nil
}

// Sgemm computes a float32 GEMM (cublasSgemm_v2) on the handle's stream.
func (b *Blas) Sgemm(g Gemm, alpha, beta float32) error {
	a, err := b.gemm("Sgemm", g, false)
	if err != nil {
		return err
	}
	return b.check("cublasSgemm_v2", b.lib.sgemm(b.ctx.h, b.h, a, alpha, beta))
}

// Dgemm computes a float64 GEMM (cublasDgemm_v2).
func (b *Blas) Dgemm(g Gemm, alpha, beta float64) error {
	a, err := b.gemm("Dgemm", g, false)
	if err != nil {
		return err
	}
	return b.check("cublasDgemm_v2", b.lib.dgemm(b.ctx.h, b.h, a, alpha, beta))
}

// SgemmStridedBatched computes g.Batch float32 GEMMs, the i-th on A +
// i·StrideA, B + i·StrideB and C + i·StrideC (cublasSgemmStridedBatched).
func (b *Blas) SgemmStridedBatched(g Gemm, alpha, beta float32) error {
	a, err := b.gemm("SgemmStridedBatched", g, true)
	if err != nil {
		return err
	}
	return b.check("cublasSgemmStridedBatched", b.lib.sgemmBatched(b.ctx.h, b.h, a, alpha, beta))
}

// DgemmStridedBatched is SgemmStridedBatched for float64.
func (b *Blas) DgemmStridedBatched(g Gemm, alpha, beta float64) error {
	a, err := b.gemm("DgemmStridedBatched", g, true)
	if err != nil {
		return err
	}
	return b.check("cublasDgemmStridedBatched", b.lib.dgemmBatched(b.ctx.h, b.h, a, alpha, beta))
}

func (b *Blas) gemm(what string, g Gemm, batched bool) (*gemmArgs, error) {
	if err := b.live(what); err != nil {
		return nil, err
	}
	return g.args(batched)
}
