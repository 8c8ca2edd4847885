// Operation codes of the kernels. The Go side (tensor/cuda/ops.go) maps the
// engine's enums onto these numbers; a test checks the two lists agree.
#pragma once

enum UnaryCode {
	U_NEG = 1, U_EXP, U_LOG, U_SQRT, U_SQUARE, U_RECIPROCAL, U_TANH, U_SIGMOID, U_SOFTPLUS,
	U_ELU, U_SIN, U_COS, U_ABS, U_SIGN, U_STEP, U_LOG1P, U_EXPM1,
};

enum BinaryCode { B_ADD = 1, B_SUB, B_MUL, B_DIV, B_MAX, B_MIN, B_POW, B_GREATER, B_EQUAL };

enum ReduceCode { R_SUM = 1, R_MAX, R_MIN };

enum DistCode { D_NORMAL = 1, D_UNIFORM, D_RADEMACHER };
