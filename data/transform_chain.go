package data

import (
	"fmt"

	"github.com/fdsm-go/fdsm/tensor"
)

// transformChain is a transform list checked against its input shape: the
// shape and size before each transform and after the last.
type transformChain struct {
	ts     []Transform
	shapes [][]int // shapes[k] is the input shape of ts[k]; the last is the output
	numels []int   // element counts of shapes
}

// newTransformChain checks ts on samples of shape in; an error names the
// transform that cannot run.
func newTransformChain(ts []Transform, in []int) (transformChain, error) {
	c := transformChain{ts: ts, shapes: [][]int{in}}
	for k := range ts {
		out, err := OutShapeOf(ts[:k+1], in) // errors then name transform k
		if err != nil {
			return c, err
		}
		c.shapes = append(c.shapes, out)
	}
	for _, s := range c.shapes {
		c.numels = append(c.numels, tensor.Shape(s).Numel())
	}
	return c, nil
}

// outShape is a sample's shape after the chain; outN its size.
func (c transformChain) outShape() []int { return c.shapes[len(c.shapes)-1] }
func (c transformChain) outN() int       { return c.numels[len(c.numels)-1] }

// scratch is the size each of run's two buffers needs.
func (c transformChain) scratch() int {
	n := 0
	for _, v := range c.numels {
		n = max(n, v)
	}
	return n
}

// run applies the chain to src (one sample of the input shape), drawing
// from rng, through the two scratch buffers, the last transform writing
// into out (outN values). With no transforms src is copied.
func (c transformChain) run(out, src []float32, bufs *[2][]float32, rng *tensor.RNG) {
	if len(c.ts) == 0 {
		copy(out, src)
		return
	}
	cur := 0
	for k, t := range c.ts {
		dst := bufs[1-cur][:c.numels[k+1]]
		if k == len(c.ts)-1 {
			dst = out
		}
		t.Apply(dst, src, c.shapes[k], rng)
		src, cur = dst, 1-cur
	}
}

func (c transformChain) String() string { return fmt.Sprint(c.ts) }
