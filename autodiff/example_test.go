package autodiff_test

import (
	"fmt"

	"github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// Derivatives of any order: differentiate x³ three times at x = 2.
func ExampleGrad() {
	be := tensor.DefaultCPU()
	tp := autodiff.NewTape(be)
	x := tp.Leaf(tensor.Scalar(be, tensor.Float64, 2))
	y := autodiff.Mul(autodiff.Mul(x, x), x)

	create := autodiff.GradOptions{CreateGraph: true}
	d1 := autodiff.Grad([]*autodiff.Var{y}, []*autodiff.Var{x}, create)[0]
	d2 := autodiff.Grad([]*autodiff.Var{d1}, []*autodiff.Var{x}, create)[0]
	d3 := autodiff.Grad1(d2, x)[0]
	fmt.Println(d1.Item(), d2.Item(), d3.Item())
	// Output: 12 12 6
}

// A training step: parameters accumulate gradients; Reset recycles memory.
func ExampleBackward() {
	be := tensor.DefaultCPU()
	w := autodiff.NewParam("w", tensor.FromFloat64s(be, tensor.Float32, tensor.Shape{1, 2}, []float64{0.5, -1}))
	x := tensor.FromFloat64s(be, tensor.Float32, tensor.Shape{3, 2}, []float64{1, 2, 3, 4, 5, 6})

	tp := autodiff.NewTape(be)
	energy := autodiff.Sum(autodiff.MatMul(tp.Const(x), tp.Param(w), false, true)) // sum_i w·x_i
	autodiff.Backward(energy, []*autodiff.Param{w})
	tp.Reset()
	fmt.Println(w.Grad.ToFloat64s()) // sum of the rows of x
	// Output: [9 12]
}
