package cuda_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/tensor/cuda/emu"
)

// TestRandomMatchesCPU: Random's draws are the CPU backend's bit for bit
// (the same Philox words, the same transforms, Go's log and sincos), for
// every distribution, odd sizes and stream offsets that are not a multiple
// of a Philox block.
func TestRandomMatchesCPU(t *testing.T) {
	b, _ := newEmu(t, emu.Options{})
	cpu := tensor.NewCPU()
	dists := []tensor.Distribution{tensor.Normal(0, 1), tensor.Normal(1.5, 2), tensor.Uniform(-2, 3),
		tensor.Uniform(0, 1), tensor.Uniform(1e-3, 1e-3+1e-9), tensor.Rademacher()}
	sizes := []int{1, 2, 7, 1000, 100001}
	if testing.Short() {
		sizes = sizes[:4]
	}
	for _, dt := range []tensor.DType{tensor.Float32, tensor.Float64} {
		for _, d := range dists {
			for _, n := range sizes {
				for _, skip := range []uint64{0, 3} {
					name := fmt.Sprintf("%v/%v/n%d/skip%d", dt, d, n, skip)
					r1, r2 := tensor.NewRNG(77), tensor.NewRNG(77)
					r1.TakeWords(skip)
					r2.TakeWords(skip)
					want := cpu.Empty(dt, n)
					cpu.Random(want, d, r1)
					got := b.Empty(dt, n)
					b.Random(got, d, r2)
					raw := make([]byte, got.Bytes())
					b.ReadBytes(raw, got)
					wraw := make([]byte, want.Bytes())
					cpu.ReadBytes(wraw, want)
					if !bytes.Equal(raw, wraw) {
						t.Errorf("%s: draws differ from the CPU's (first at element %d)", name, firstDiff(raw, wraw)/dt.Size())
					}
					b.Release(got)
				}
			}
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}
