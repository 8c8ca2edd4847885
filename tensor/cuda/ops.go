package cuda

import (
	"fmt"

	"github.com/fdsm-go/fdsm/tensor"
)

// The kernels' operation codes (kernels/ops.h). They are the kernels' own
// numbers, not the engine's enum values, so reordering an enum cannot
// silently change what a kernel computes; tests check every op has one.

var unaryCodes = map[tensor.UnaryOp]uint64{
	tensor.OpNeg: 1, tensor.OpExp: 2, tensor.OpLog: 3, tensor.OpSqrt: 4, tensor.OpSquare: 5,
	tensor.OpReciprocal: 6, tensor.OpTanh: 7, tensor.OpSigmoid: 8, tensor.OpSoftplus: 9,
	tensor.OpELU: 10, tensor.OpSin: 11, tensor.OpCos: 12, tensor.OpAbs: 13, tensor.OpSign: 14,
	tensor.OpStep: 15, tensor.OpLog1p: 16, tensor.OpExpm1: 17,
}

var binaryCodes = map[tensor.BinaryOp]uint64{
	tensor.OpAdd: 1, tensor.OpSub: 2, tensor.OpMul: 3, tensor.OpDiv: 4, tensor.OpMax: 5,
	tensor.OpMin: 6, tensor.OpPow: 7, tensor.OpGreater: 8, tensor.OpEqual: 9,
}

var reduceCodes = map[tensor.ReduceOp]uint64{tensor.ReduceSum: 1, tensor.ReduceMax: 2, tensor.ReduceMin: 3}

var distCodes = map[tensor.DistKind]uint64{tensor.DistNormal: 1, tensor.DistUniform: 2, tensor.DistRademacher: 3}

func unaryCode(op tensor.UnaryOp) uint64 {
	c, ok := unaryCodes[op]
	if !ok {
		panic(fmt.Sprintf("cuda: unknown unary op %d", op))
	}
	return c
}

func binaryCode(op tensor.BinaryOp) uint64 {
	c, ok := binaryCodes[op]
	if !ok {
		panic(fmt.Sprintf("cuda: unknown binary op %d", op))
	}
	return c
}

func reduceCode(op tensor.ReduceOp) uint64 {
	c, ok := reduceCodes[op]
	if !ok {
		panic(fmt.Sprintf("cuda: unknown reduce op %d", op))
	}
	return c
}
