package tensor

import "fmt"

// Average pooling works plane by plane (one (sample, channel) pair), spread
// across goroutines. Windows are small and planes independent, so direct
// loops beat any GEMM formulation here.

// poolGeom is the checked geometry of one pooling call.
type poolGeom struct {
	planes, h, w, oh, ow int // N*C planes of h×w in, oh×ow out
	k, stride, pad       int
}

// poolCheck validates x-role [N,C,H,W] and y-role [N,C,OH,OW] shapes.
func poolCheck(op string, names [2]string, xs, ys Shape, p PoolParams) poolGeom {
	p = p.Normalized()
	if len(xs) != 4 || len(ys) != 4 {
		panic(fmt.Sprintf("tensor: %s shapes %s%v %s%v do not match (want rank 4 [N,C,H,W]; %+v)",
			op, names[0], xs, names[1], ys, p))
	}
	oh, ow := p.OutSize(xs[2], xs[3])
	if want := (Shape{xs[0], xs[1], oh, ow}); !ys.Equal(want) {
		panic(fmt.Sprintf("tensor: %s shapes %s%v %s%v do not match (want %s%v; %+v)",
			op, names[0], xs, names[1], ys, names[1], want, p))
	}
	return poolGeom{planes: xs[0] * xs[1], h: xs[2], w: xs[3], oh: oh, ow: ow, k: p.Kernel, stride: p.Stride, pad: p.Pad}
}

// window returns the part of the window starting at o*stride - pad that lies
// inside [0, n); the padding outside it contributes zeros.
func (g poolGeom) window(o, n int) (lo, hi int) {
	start := o*g.stride - g.pad
	lo = max(start, 0)
	return lo, max(lo, min(start+g.k, n))
}

func (c *CPU) AvgPool2D(y, x *Tensor, p PoolParams) {
	c.own(y, x)
	dt := sameDType("avgpool2d", y, x)
	g := poolCheck("avgpool2d", [2]string{"x", "y"}, x.shape, y.shape, p)
	if dt == Float32 {
		avgPoolForward(g, y.f32, x.f32)
	} else {
		avgPoolForward(g, y.f64, x.f64)
	}
}

func (c *CPU) AvgPool2DAdjoint(dx, gy *Tensor, p PoolParams) {
	c.own(dx, gy)
	dt := sameDType("avgpool2d adjoint", dx, gy)
	g := poolCheck("avgpool2d adjoint", [2]string{"dx", "gy"}, dx.shape, gy.shape, p)
	if dt == Float32 {
		avgPoolAdjoint(g, dx.f32, gy.f32)
	} else {
		avgPoolAdjoint(g, dx.f64, gy.f64)
	}
}

// avgPoolForward divides every window sum by k² (count_include_pad).
func avgPoolForward[T convElem](g poolGeom, y, x []T) {
	inv := 1 / T(g.k*g.k)
	parallelFor(g.planes, g.oh*g.ow*g.k*g.k, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			src, dst := x[u*g.h*g.w:(u+1)*g.h*g.w], y[u*g.oh*g.ow:(u+1)*g.oh*g.ow]
			for oh := 0; oh < g.oh; oh++ {
				h0, h1 := g.window(oh, g.h)
				for ow := 0; ow < g.ow; ow++ {
					w0, w1 := g.window(ow, g.w)
					var sum T
					for ih := h0; ih < h1; ih++ {
						for _, v := range src[ih*g.w+w0 : ih*g.w+w1] {
							sum += v
						}
					}
					dst[oh*g.ow+ow] = sum * inv
				}
			}
		}
	})
}

// avgPoolAdjoint spreads gy/k² back over each window. A goroutine owns whole
// dx planes, so overlapping windows (stride < kernel) accumulate without races.
func avgPoolAdjoint[T convElem](g poolGeom, dx, gy []T) {
	inv := 1 / T(g.k*g.k)
	parallelFor(g.planes, g.oh*g.ow*g.k*g.k, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			dst, src := dx[u*g.h*g.w:(u+1)*g.h*g.w], gy[u*g.oh*g.ow:(u+1)*g.oh*g.ow]
			clear(dst)
			for oh := 0; oh < g.oh; oh++ {
				h0, h1 := g.window(oh, g.h)
				for ow := 0; ow < g.ow; ow++ {
					w0, w1 := g.window(ow, g.w)
					v := src[oh*g.ow+ow] * inv
					for ih := h0; ih < h1; ih++ {
						row := dst[ih*g.w+w0 : ih*g.w+w1]
						for i := range row {
							row[i] += v
						}
					}
				}
			}
		}
	})
}
