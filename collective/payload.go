package collective

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"unsafe"

	"github.com/fdsm-go/fdsm/tensor"
)

// BroadcastBytes sends root's data to every rank and returns it (root gets
// data back). Bytes travel as the bit patterns of float64 words: collectives
// copy bits without arithmetic, so any byte string survives. data is
// ignored on other ranks.
func BroadcastBytes(ctx context.Context, c Comm, root int, data []byte) ([]byte, error) {
	cpu := tensor.DefaultCPU()
	n := tensor.NewHostTensor(cpu, tensor.Shape{1}, nil, []float64{float64(len(data))})
	if err := c.Broadcast(ctx, n, root); err != nil {
		return nil, err
	}
	size := int(n.Float64s()[0])
	if size < 0 || float64(size) != n.Float64s()[0] {
		return nil, fmt.Errorf("broadcast bytes: bad length %v from rank %d", n.Float64s()[0], root)
	}
	words := make([]float64, (size+7)/8)
	buf := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), len(words)*8)
	if c.Rank() == root {
		copy(buf, data)
	}
	w := tensor.NewHostTensor(cpu, tensor.Shape{len(words)}, nil, words)
	if err := c.Broadcast(ctx, w, root); err != nil {
		return nil, err
	}
	return buf[:size], nil
}

// AllGatherFloat64s gathers a few float64 values from every rank: out[r] is
// rank r's vals. Every rank must pass the same number of values.
func AllGatherFloat64s(ctx context.Context, c Comm, vals []float64) ([][]float64, error) {
	cpu := tensor.DefaultCPU()
	send := tensor.NewHostTensor(cpu, tensor.Shape{len(vals)}, nil, append([]float64(nil), vals...))
	recv := tensor.NewHostTensor(cpu, tensor.Shape{len(vals) * c.Size()}, nil, make([]float64, len(vals)*c.Size()))
	if err := c.AllGather(ctx, send, recv); err != nil {
		return nil, err
	}
	out := make([][]float64, c.Size())
	for r := range out {
		out[r] = recv.Float64s()[r*len(vals) : (r+1)*len(vals)]
	}
	return out, nil
}

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

// SplitHash encodes a 64-bit hash as two float64 values that carry it
// exactly (32 bits each), for gathering through float collectives.
func SplitHash(h uint64) [2]float64 { return [2]float64{float64(h >> 32), float64(h & 0xffffffff)} }

// JoinHash inverts SplitHash.
func JoinHash(v []float64) uint64 { return uint64(v[0])<<32 | uint64(v[1]) }
