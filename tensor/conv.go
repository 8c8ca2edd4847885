package tensor

import "fmt"

// ConvParams are the geometry of a 2-D convolution. Zero strides and
// dilations mean 1.
type ConvParams struct {
	StrideH, StrideW     int
	PadH, PadW           int
	DilationH, DilationW int
}

// Conv returns square parameters: the same stride, padding and dilation on both axes.
func Conv(stride, pad, dilation int) ConvParams {
	return ConvParams{stride, stride, pad, pad, dilation, dilation}
}

// Normalized replaces zero strides and dilations by 1.
func (p ConvParams) Normalized() ConvParams {
	if p.StrideH == 0 {
		p.StrideH = 1
	}
	if p.StrideW == 0 {
		p.StrideW = 1
	}
	if p.DilationH == 0 {
		p.DilationH = 1
	}
	if p.DilationW == 0 {
		p.DilationW = 1
	}
	return p
}

// OutSize returns the output height and width for an h×w input and a kh×kw
// kernel, as PyTorch computes them. It panics if the output would be empty.
func (p ConvParams) OutSize(h, w, kh, kw int) (oh, ow int) {
	p = p.Normalized()
	oh = (h+2*p.PadH-p.DilationH*(kh-1)-1)/p.StrideH + 1
	ow = (w+2*p.PadW-p.DilationW*(kw-1)-1)/p.StrideW + 1
	if oh <= 0 || ow <= 0 || p.PadH < 0 || p.PadW < 0 {
		panic(fmt.Sprintf("tensor: conv of %dx%d input with %dx%d kernel and %+v has no output", h, w, kh, kw, p))
	}
	return oh, ow
}

// PoolParams are the geometry of a square 2-D pooling window. Stride 0 means
// Kernel (non-overlapping windows).
type PoolParams struct {
	Kernel, Stride, Pad int
}

// Normalized replaces a zero stride by the kernel size.
func (p PoolParams) Normalized() PoolParams {
	if p.Stride == 0 {
		p.Stride = p.Kernel
	}
	return p
}

// OutSize returns the pooled height and width of an h×w input. It panics for
// an empty output or a padding above half the kernel (PyTorch's limit).
func (p PoolParams) OutSize(h, w int) (oh, ow int) {
	p = p.Normalized()
	if p.Kernel <= 0 || p.Pad < 0 || 2*p.Pad > p.Kernel {
		panic(fmt.Sprintf("tensor: invalid pooling %+v", p))
	}
	oh = (h+2*p.Pad-p.Kernel)/p.Stride + 1
	ow = (w+2*p.Pad-p.Kernel)/p.Stride + 1
	if oh <= 0 || ow <= 0 {
		panic(fmt.Sprintf("tensor: pooling %+v of %dx%d input has no output", p, h, w))
	}
	return oh, ow
}
