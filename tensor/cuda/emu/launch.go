//go:build cgo

package emu

/*
#include <stdint.h>
#include <stddef.h>

int emu_kernel_count(void);
const char *emu_kernel_name(int i);
size_t emu_kernel_bytes(int i);
void emu_launch(int i, int64_t gx, int64_t gy, int64_t gz, int64_t bx, int64_t by, int64_t bz, const uint64_t *words);
void emu_gemm(int f64, int ta, int tb, int64_t m, int64_t n, int64_t k, double alpha, uint64_t a, int64_t lda,
	int64_t sa, uint64_t b, int64_t ldb, int64_t sb, double beta, uint64_t c, int64_t ldc, int64_t sc,
	int64_t batch, int tf32);
*/
import "C"

import (
	"fmt"
	"sort"

	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/tensor/cuda"
	ksrc "github.com/fdsm-go/fdsm/tensor/cuda/kernels"
)

// The kernel sources, compiled into this package through the k_*.cc files:
// referenced so that the go command rebuilds the package when one changes
// (it does not follow #includes out of the package's directory).
var _ = ksrc.Sources

// kernel is one compiled kernel of the registry.
type kernel struct {
	index C.int
	words int // argument struct size in 8-byte words
}

// kernels maps names to the kernels the .cu sources registered.
var kernels = func() map[string]kernel {
	m := make(map[string]kernel)
	for i := C.int(0); i < C.emu_kernel_count(); i++ {
		m[C.GoString(C.emu_kernel_name(i))] = kernel{i, int(C.emu_kernel_bytes(i)) / 8}
	}
	return m
}()

// Kernels lists the kernels the emulator has, with their argument words.
func Kernels() map[string]int {
	out := make(map[string]int, len(kernels))
	for name, k := range kernels {
		out[name] = k.words
	}
	return out
}

// KernelNames lists the emulator's kernels, sorted.
func KernelNames() []string {
	var names []string
	for name := range kernels {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func (d *Device) Launch(name string, grid, block cuda.Dim3, args []uint64, s cuda.Stream) error {
	k, ok := kernels[name]
	if !ok {
		return fmt.Errorf("cuda-emu: no kernel %q", name)
	}
	if len(args) != k.words {
		return fmt.Errorf("cuda-emu: kernel %s takes %d argument words, given %d", name, k.words, len(args))
	}
	g, b := dims(grid), dims(block)
	if g[0] < 1 || g[1] < 1 || g[2] < 1 || b[0] < 1 || b[1] < 1 || b[2] < 1 ||
		b[0]*b[1]*b[2] > int64(d.info.MaxThreadsPerBlock) {
		return fmt.Errorf("cuda-emu: kernel %s launched with grid %v, block %v", name, grid, block)
	}
	words := append([]uint64(nil), args...)
	return d.enqueue(s, func() {
		C.emu_launch(k.index, C.int64_t(g[0]), C.int64_t(g[1]), C.int64_t(g[2]),
			C.int64_t(b[0]), C.int64_t(b[1]), C.int64_t(b[2]), (*C.uint64_t)(&words[0]))
	})
}

func dims(d cuda.Dim3) [3]int64 { return [3]int64{int64(d.X), int64(d.Y), int64(d.Z)} }

func (d *Device) Gemm(g cuda.GemmOp, s cuda.Stream) error {
	if err := d.checkGemm(g); err != nil {
		return err
	}
	d.mu.Lock()
	tf32 := d.tf32 && g.DType == tensor.Float32
	d.mu.Unlock()
	return d.enqueue(s, func() {
		C.emu_gemm(cbool(g.DType == tensor.Float64), cbool(g.TransA), cbool(g.TransB), C.int64_t(g.M), C.int64_t(g.N),
			C.int64_t(g.K), C.double(g.Alpha), C.uint64_t(g.A), C.int64_t(g.LDA), C.int64_t(g.StrideA),
			C.uint64_t(g.B), C.int64_t(g.LDB), C.int64_t(g.StrideB), C.double(g.Beta), C.uint64_t(g.C),
			C.int64_t(g.LDC), C.int64_t(g.StrideC), C.int64_t(g.Batch), cbool(tf32))
	})
}

func cbool(v bool) C.int {
	if v {
		return 1
	}
	return 0
}

// checkGemm applies cuBLAS's argument rules (dimensions, leading
// dimensions at least the stored rows) and checks every batch entry's
// operands lie inside allocations.
func (d *Device) checkGemm(g cuda.GemmOp) error {
	if g.DType != tensor.Float32 && g.DType != tensor.Float64 {
		return fmt.Errorf("cuda-emu: GEMM of dtype %v", g.DType)
	}
	if g.M < 1 || g.N < 1 || g.K < 1 || g.Batch < 1 {
		return fmt.Errorf("cuda-emu: GEMM %dx%dx%d batch %d", g.M, g.N, g.K, g.Batch)
	}
	es := int64(g.DType.Size())
	for _, op := range []struct {
		name       string
		p          cuda.Ptr
		rows, cols int
		ld         int
		stride     int64
	}{
		{"A", g.A, pick(g.TransA, g.K, g.M), pick(g.TransA, g.M, g.K), g.LDA, g.StrideA},
		{"B", g.B, pick(g.TransB, g.N, g.K), pick(g.TransB, g.K, g.N), g.LDB, g.StrideB},
		{"C", g.C, g.M, g.N, g.LDC, g.StrideC},
	} {
		if op.ld < op.rows {
			return fmt.Errorf("cuda-emu: GEMM %s has leading dimension %d < %d rows", op.name, op.ld, op.rows)
		}
		extent := (int64(g.Batch-1)*op.stride + int64(op.cols-1)*int64(op.ld) + int64(op.rows)) * es
		if err := d.span("GEMM "+op.name, op.p, extent); err != nil {
			return err
		}
	}
	return nil
}

// pick returns a if t, else b.
func pick(t bool, a, b int) int {
	if t {
		return a
	}
	return b
}
