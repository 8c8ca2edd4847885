package models

import (
	"sync"

	"github.com/fdsm-go/fdsm/tensor"
)

// constants are small tables a computation needs on its backend every step
// (interpolation matrices, level grids, σ schedules). Each is computed and
// copied once per backend, dtype and key, and kept for the process, so a
// step copies nothing to the device but its batch.
var constants = struct {
	sync.Mutex
	m map[constantKey]*tensor.Tensor
}{m: map[constantKey]*tensor.Tensor{}}

type constantKey struct {
	be  tensor.Backend
	dt  tensor.DType
	key string
}

// Constant returns the constant tensor named key on be in dt, of the given
// shape, with the values vals computes (called on first use only). The
// tensor is shared: callers must not modify or release it. Safe for
// concurrent use.
func Constant(be tensor.Backend, dt tensor.DType, key string, shape tensor.Shape, vals func() []float64) *tensor.Tensor {
	constants.Lock()
	defer constants.Unlock()
	k := constantKey{be, dt, key}
	if t, ok := constants.m[k]; ok {
		return t
	}
	t := tensor.FromFloat64s(be, dt, shape, vals())
	constants.m[k] = t
	return t
}
