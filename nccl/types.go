package nccl

import (
	"fmt"

	"github.com/fdsm-go/fdsm/collective"
)

// UniqueID is ncclUniqueId: 128 opaque bytes made by NewUniqueID on one
// rank and handed to every rank (over the control plane) for InitRank.
type UniqueID [128]byte

// DataType is the element type of a collective's buffers. The zero value is
// invalid so that a forgotten type fails instead of meaning int8.
type DataType int

const (
	Float32 DataType = iota + 1
	Float64
	BFloat16
)

func (d DataType) String() string {
	switch d {
	case Float32:
		return "float32"
	case Float64:
		return "float64"
	case BFloat16:
		return "bfloat16"
	}
	return fmt.Sprintf("DataType(%d)", int(d))
}

// ncclDataType_t values (nccl.h 2.28.9).
const (
	ncclFloat32  = 7
	ncclFloat64  = 8
	ncclBfloat16 = 9
)

func (d DataType) code() (int, error) {
	switch d {
	case Float32:
		return ncclFloat32, nil
	case Float64:
		return ncclFloat64, nil
	case BFloat16:
		return ncclBfloat16, nil
	}
	return 0, fmt.Errorf("nccl: unsupported data type %v", d)
}

// ncclRedOp_t values (nccl.h 2.28.9). ncclAvg (2.10+) divides by the
// number of ranks on the device, so Average needs no extra kernel.
const (
	ncclSum = 0
	ncclAvg = 4
)

func opCode(op collective.ReduceOp) (int, error) {
	switch op {
	case collective.Sum:
		return ncclSum, nil
	case collective.Average:
		return ncclAvg, nil
	}
	return 0, fmt.Errorf("nccl: unsupported reduce op %v", op)
}
