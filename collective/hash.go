package collective

import (
	"hash/fnv"
	"math"
	"unsafe"

	"github.com/fdsm-go/fdsm/tensor"
)

// HashTensors returns a 64-bit FNV-1a hash of the tensors' element bit
// patterns, in order: equal on two ranks exactly when their values are
// bitwise equal (up to hash collisions).
func HashTensors(ts []*tensor.Tensor) uint64 {
	h := fnv.New64a()
	var b [8]byte
	for _, t := range ts {
		if t.IsHost() && t.DType() == tensor.Float32 {
			f := t.Float32s()
			h.Write(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), len(f)*4))
			continue
		}
		for _, v := range t.ToFloat64s() {
			u := math.Float64bits(v)
			for i := range b {
				b[i] = byte(u >> (8 * i))
			}
			h.Write(b[:])
		}
	}
	return h.Sum64()
}
