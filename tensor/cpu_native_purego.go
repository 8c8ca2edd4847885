//go:build !cgo || noopenblas

package tensor

// The pure-Go build has no native kernels: internal/mathf serves them all.

func nativeKernels() string { return "go" }

func nativeUnary32(op UnaryOp, dst, x []float32) bool { return false }
