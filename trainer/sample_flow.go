package trainer

import (
	"fmt"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// SampleFlow draws n exact samples from the flow m: z ~ N(0, T²I) mapped
// through the inverse, x = f⁻¹(z), one model evaluation and no chain.
// T = 1 samples the model itself; T < 1 is the "reduced temperature" of
// flows (Kingma & Dhariwal 2018), less diverse and often cleaner. The
// result [n, InputShape...] lives on be and belongs to the caller.
func SampleFlow(m models.Flow, n int, be tensor.Backend, dt tensor.DType, rng *tensor.RNG, temperature float64) (*tensor.Tensor, error) {
	if !(temperature > 0) || temperature > 1e6 {
		return nil, fmt.Errorf("trainer: flow sampling temperature %v must be positive and finite", temperature)
	}
	z, err := samplerDraw(m, n, be, dt, rng, tensor.Normal(0, temperature))
	if err != nil {
		return nil, err
	}
	tp := ad.NewTape(be)
	defer tp.Reset()
	var x *ad.Var
	tp.NoGrad(func() { x = m.Inverse(tp.Const(z)) })
	be.Copy(z, x.Value())
	if z.HasNonFinite() {
		return z, fmt.Errorf("trainer: flow samples are not finite (temperature %v)", temperature)
	}
	return z, nil
}
