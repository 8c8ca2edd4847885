package tensor

// Backend holds every primitive the engine runs. Autodiff and the models call
// only these, so a device backend (CUDA, in tensor/cuda) slots in by
// implementing this interface; the conformance suite in conformance_test.go
// states what each primitive must do.
//
// Conventions:
//   - Destinations come first and are allocated by the caller (Empty/Zeros),
//     with the exact output shape; a mismatch panics with the shapes named.
//   - All operands of one call share a dtype and belong to this backend.
//   - Unless a method says otherwise, dst must not alias an input.
//   - Methods are safe for concurrent use on distinct destinations.
//   - Work is enqueued and may run after the call returns: the ordering
//     rules (events, host reads, Sync) are in queue.go.
type Backend interface {
	// Name identifies the backend in logs, e.g. "cpu/openblas".
	Name() string

	// Empty returns an uninitialised tensor from the pool.
	Empty(dt DType, shape ...int) *Tensor
	// Zeros returns a zero-filled tensor from the pool.
	Zeros(dt DType, shape ...int) *Tensor
	// Release returns a tensor from Empty/Zeros to the pool. The caller must
	// not use t, or views made by Reshape, afterwards. Releasing a tensor the
	// pool did not hand out is a no-op.
	Release(t *Tensor)
	// MemStats reports pool usage.
	MemStats() MemStats
	// ResetPeak restarts the high-water mark at the current usage, so a
	// benchmark can measure the peak of one computation.
	ResetPeak()

	// WriteFloat32s copies src (len = dst.Numel()) into the float32 tensor
	// dst, WriteFloat64s into a float64 one, and WriteBytes the raw
	// little-endian elements of dst's dtype (len = dst.Bytes()). The host
	// slice may be reused as soon as the call returns. A dtype or length
	// mismatch panics: there is no conversion on the way.
	WriteFloat32s(dst *Tensor, src []float32)
	WriteFloat64s(dst *Tensor, src []float64)
	WriteBytes(dst *Tensor, src []byte)
	// ReadFloat32s, ReadFloat64s and ReadBytes are the converse: they wait
	// for the work that writes src, then copy it to the host (a host
	// synchronisation).
	ReadFloat32s(dst []float32, src *Tensor)
	ReadFloat64s(dst []float64, src *Tensor)
	ReadBytes(dst []byte, src *Tensor)
	// Copy copies src into dst (same numel; shapes may differ; dtypes may differ).
	Copy(dst, src *Tensor)

	// Record returns an event that completes when the work enqueued so far
	// has run.
	Record() Event
	// WaitFor makes the work enqueued after this call wait until e (of
	// any backend) completes, without blocking the caller.
	WaitFor(e Event)
	// Sync waits for all enqueued work and returns the first asynchronous
	// failure since the previous Sync.
	Sync() error
	// Transfers returns the host synchronisations and bytes copied between
	// host and backend memory since the backend was made.
	Transfers() TransferStats

	// Fill sets every element to v.
	Fill(dst *Tensor, v float64)
	// Random fills dst with independent draws from dist using rng.
	Random(dst *Tensor, dist Distribution, rng *RNG)

	// Gemm computes c = alpha * op(a) op(b) + beta * c, where op transposes the
	// last two axes when the flag is set. Rank 2 operands are a plain GEMM;
	// rank 3 operands are a batch of GEMMs over the first axis (a or b may be
	// rank 2 and is then shared by every batch entry).
	Gemm(transA, transB bool, alpha float64, a, b *Tensor, beta float64, c *Tensor)

	// Unary applies op elementwise: dst = op(x). dst may alias x.
	Unary(op UnaryOp, dst, x *Tensor)
	// Binary applies op elementwise with NumPy broadcasting of a and b to
	// dst's shape. dst may alias an input of dst's shape.
	Binary(op BinaryOp, dst, a, b *Tensor)
	// ScalarOp applies op elementwise with a scalar operand, dst = op(x, s),
	// or op(s, x) with scalarFirst (s rounded to the dtype first, as a
	// scalar tensor would be). dst may alias x.
	ScalarOp(op BinaryOp, dst, x *Tensor, s float64, scalarFirst bool)
	// ReduceTo reduces x to dst's shape, which must broadcast to x's shape
	// (after left-padding with ones): each dst element combines the x
	// elements that broadcast from it.
	ReduceTo(op ReduceOp, dst, x *Tensor)

	// Transpose permutes axes: dst.shape[i] = x.shape[perm[i]].
	Transpose(dst, x *Tensor, perm []int)
	// Concat joins xs along axis into dst.
	Concat(dst *Tensor, xs []*Tensor, axis int)
	// Slice copies x[..., start:start+dst.shape[axis], ...] along axis into dst.
	Slice(dst, x *Tensor, axis, start int)
	// SetSlice copies src into dst[..., start:start+src.shape[axis], ...],
	// leaving the rest of dst unchanged.
	SetSlice(dst, src *Tensor, axis, start int)

	// Conv2D computes the cross-correlation y = x ⋆ w (PyTorch's conv2d
	// without bias) for x [N,C,H,W] and w [O,C,KH,KW] into y [N,O,OH,OW].
	Conv2D(y, x, w *Tensor, p ConvParams)
	// Conv2DInputGrad computes dx = d<gy, conv(x,w)>/dx (the transposed
	// convolution of gy with w) into dx [N,C,H,W].
	Conv2DInputGrad(dx, gy, w *Tensor, p ConvParams)
	// Conv2DWeightGrad computes dw = d<gy, conv(x,w)>/dw into dw [O,C,KH,KW].
	Conv2DWeightGrad(dw, x, gy *Tensor, p ConvParams)
	// AvgPool2D averages KxK windows of x [N,C,H,W] into y [N,C,OH,OW]; padded
	// positions count as zeros in the average (PyTorch's count_include_pad).
	AvgPool2D(y, x *Tensor, p PoolParams)
	// AvgPool2DAdjoint computes dx, the adjoint of AvgPool2D applied to gy.
	AvgPool2DAdjoint(dx, gy *Tensor, p PoolParams)

	// SumSquares sets the one-element dst to the sum of the squares of
	// every element of xs, accumulated in float64: a multi-tensor
	// reduction whose result stays on the backend (a NaN or Inf anywhere
	// gives NaN or +Inf).
	SumSquares(dst *Tensor, xs []*Tensor)
	// AdamStep applies one torch.optim.Adam update to p in place, fused and
	// gated on the backend (gate [2]: a gradient multiplier c and a flag;
	// flag 0 leaves p, m, v and t unchanged). With g = c·grad + wd·p (AdamW:
	// g = c·grad and p ← (1 - lr·wd)·p first) and the step count t [1]
	// incremented first:
	//   m ← β1·m + (1-β1)·g,  v ← β2·v + (1-β2)·g²,
	//   p ← p − lr/(1-β1^t) · m / (√v/√(1-β2^t) + ε).
	// Element arithmetic is float64, rounded once to the dtype.
	AdamStep(p, grad, m, v, t, gate *Tensor, a AdamArgs)
	// SGDStep applies one torch.optim.SGD update (dampening 0, no
	// Nesterov), gated as AdamStep: g = c·grad + wd·p; with momentum μ > 0
	// buf ← g on the first step (t = 0) and buf ← μ·buf + g after, then
	// p ← p − lr·buf (p ← p − lr·g without momentum; buf may then be nil).
	SGDStep(p, grad, buf, t, gate *Tensor, a SGDArgs)

	// Solve solves a x = b for square a [n,n] and b [n,k] (or [n]) into x.
	// It returns ErrSingular when a is singular to working precision.
	Solve(x, a, b *Tensor) error
}

// MemStats describes a backend's memory pool.
type MemStats struct {
	InUseBytes  int64 // handed out and not yet released
	PooledBytes int64 // released and kept for reuse
	PeakBytes   int64 // high-water mark of InUseBytes
	Allocs      int64 // fresh allocations (pool misses)
	Reuses      int64 // pool hits
}

// UnaryOp names an elementwise function of one argument.
type UnaryOp uint8

const (
	OpNeg        UnaryOp = iota + 1 // -x
	OpExp                           // e^x
	OpLog                           // ln x
	OpSqrt                          // √x
	OpSquare                        // x²
	OpReciprocal                    // 1/x
	OpTanh                          // tanh x
	OpSigmoid                       // 1/(1+e^-x)
	OpSoftplus                      // ln(1+e^x), stable for large |x|
	OpELU                           // x if x>0 else e^x-1
	OpSin                           // sin x
	OpCos                           // cos x
	OpAbs                           // |x|
	OpSign                          // -1, 0 or 1
	OpStep                          // 1 if x>0 else 0
	OpLog1p                         // ln(1+x)
	OpExpm1                         // e^x-1
)

var unaryNames = [...]string{"", "neg", "exp", "log", "sqrt", "square", "reciprocal", "tanh", "sigmoid",
	"softplus", "elu", "sin", "cos", "abs", "sign", "step", "log1p", "expm1"}

func (o UnaryOp) String() string {
	if int(o) < len(unaryNames) {
		return unaryNames[o]
	}
	return "unary?"
}

// BinaryOp names an elementwise function of two arguments.
type BinaryOp uint8

const (
	OpAdd     BinaryOp = iota + 1 // a+b
	OpSub                         // a-b
	OpMul                         // a*b
	OpDiv                         // a/b
	OpMax                         // max(a,b)
	OpMin                         // min(a,b)
	OpPow                         // a^b
	OpGreater                     // 1 if a>b else 0
	OpEqual                       // 1 if a==b else 0
)

var binaryNames = [...]string{"", "add", "sub", "mul", "div", "max", "min", "pow", "greater", "equal"}

func (o BinaryOp) String() string {
	if int(o) < len(binaryNames) {
		return binaryNames[o]
	}
	return "binary?"
}

// ReduceOp names a reduction.
type ReduceOp uint8

const (
	ReduceSum ReduceOp = iota + 1
	ReduceMax
	ReduceMin
)

func (o ReduceOp) String() string {
	switch o {
	case ReduceSum:
		return "sum"
	case ReduceMax:
		return "max"
	case ReduceMin:
		return "min"
	}
	return "reduce?"
}

// Distribution names a random fill.
type Distribution struct {
	Kind DistKind
	A, B float64 // Normal: mean, std; Uniform: low, high
}

// DistKind is the family of a Distribution.
type DistKind uint8

const (
	DistNormal     DistKind = iota + 1 // N(A, B²)
	DistUniform                        // U[A, B)
	DistRademacher                     // ±1 with probability 1/2
)

// Normal returns N(mean, std²).
func Normal(mean, std float64) Distribution { return Distribution{DistNormal, mean, std} }

// Uniform returns U[low, high).
func Uniform(low, high float64) Distribution { return Distribution{DistUniform, low, high} }

// Rademacher returns the ±1 distribution.
func Rademacher() Distribution { return Distribution{Kind: DistRademacher} }

// AdamArgs are AdamStep's hyperparameters. Decoupled makes it AdamW
// (torch.optim.AdamW): the weight decay shrinks p by (1 - lr·wd) before the
// update instead of adding wd·p to the gradient.
type AdamArgs struct {
	LR, Beta1, Beta2, Eps, WeightDecay float64
	Decoupled                          bool
}

// SGDArgs are SGDStep's hyperparameters.
type SGDArgs struct{ LR, Momentum, WeightDecay float64 }

// DirectCopier is a Backend that can copy from some other backends'
// tensors without a trip through host memory (the lanes of one GPU).
type DirectCopier interface {
	// CopyFromOther copies src, a tensor of another backend, into dst of
	// this one (same dtype and numel), ordered after the work that writes
	// src and before any later work on src's backend that could reuse its
	// memory, without blocking the caller. It reports false, doing
	// nothing, when it cannot reach src's memory.
	CopyFromOther(dst, src *Tensor) bool
}
