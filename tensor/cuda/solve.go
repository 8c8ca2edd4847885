package cuda

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/fdsm-go/fdsm/tensor"
)

// Solve runs the CPU's LU with partial pivoting (float64, singularity
// tolerance n·eps·max|a|) in a one-thread kernel, then reads its status:
// the error result makes Solve a host synchronisation, as on devsim.
func (b *Backend) Solve(x, a, rhs *tensor.Tensor) error {
	tensor.CheckSolve(x, a, rhs)
	px, pa, pb := b.ptr(x), b.ptr(a), b.ptr(rhs)
	n := a.Dim(0)
	if n == 0 {
		return nil
	}
	k := rhs.Numel() / n
	lu, work, info := b.scratch(int64(8*n*n)), b.scratch(int64(8*n*k)), b.scratch(32)
	defer func() { b.free(lu); b.free(work); b.free(info) }()
	b.single("solve"+suffix(x.DType()), uint64(px), uint64(pa), uint64(pb), i64(n), i64(k),
		uint64(lu.p), uint64(work.p), uint64(info.p))
	st := b.readInfo(info.p)
	switch st[0] {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("tensor: solve: matrix has non-finite entries: %w", tensor.ErrSingular)
	}
	return fmt.Errorf("%w (pivot %d is %.3g, tolerance %.3g)", tensor.ErrSingular, int(st[1]), st[2], st[3])
}

// readInfo reads four float64 status words (a host synchronisation, not
// counted as Read traffic).
func (b *Backend) readInfo(p Ptr) [4]float64 {
	sb := b.staging.get(32)
	b.check(b.dev.CopyDtoH(sb.mem[:32], p, b.s))
	b.syncs.Add(1)
	b.hostWait()
	var st [4]float64
	for i := range st {
		st[i] = math.Float64frombits(binary.LittleEndian.Uint64(sb.mem[8*i:]))
	}
	b.staging.put(sb, false)
	return st
}
