package trainer

import (
	"path/filepath"
	"testing"

	"github.com/fdsm-go/fdsm/npy"
	"github.com/fdsm-go/fdsm/tensor"
)

// TestSaveSamplesShapes: flattened square images (an MLP's MNIST samples)
// are written as [N, 1, H, W]; other vectors keep [N, D]; values are
// clamped to pixel scale, logit undone.
func TestSaveSamplesShapes(t *testing.T) {
	be := tensor.DefaultCPU()
	for _, tc := range []struct {
		shape, want []int
		transforms  []string
	}{
		{[]int{3, 784}, []int{3, 1, 28, 28}, nil},
		{[]int{3, 11}, []int{3, 11}, nil},
		{[]int{2, 1, 8, 8}, []int{2, 1, 8, 8}, []string{"logit"}},
	} {
		n := 1
		for _, d := range tc.shape {
			n *= d
		}
		vals := make([]float64, n)
		for i := range vals {
			vals[i] = float64(i%7) - 3 // beyond [0, 1] both ways
		}
		x := tensor.FromFloat64s(be, tensor.Float32, tc.shape, vals)
		path := filepath.Join(t.TempDir(), "s.npy")
		if err := SaveSamples(path, x, tc.transforms); err != nil {
			t.Fatal(err)
		}
		a, err := npy.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !tensor.Shape(a.Shape).Equal(tc.want) {
			t.Errorf("%v: wrote %v, want %v", tc.shape, a.Shape, tc.want)
		}
		for i, v := range a.Data {
			if v < 0 || v > 1 {
				t.Fatalf("%v: value %d = %v outside [0, 1]", tc.shape, i, v)
			}
		}
		if tc.transforms != nil && (a.Data[3] != 0.5) { // logit⁻¹(0) = ½
			t.Errorf("logit not undone: %v", a.Data[3])
		}
	}
}
