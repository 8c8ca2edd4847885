package objective

import (
	"math"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// gaussEnergy is a diagonal Gaussian model for closed-form checks:
// log p~(x) = -½ Σⱼ (xⱼ - μⱼ)² e^{-2ρⱼ} + c, with parameters mu and rho
// (ρ = log s) and an optional constant c (to test partition invariance).
type gaussEnergy struct {
	mu, rho *ad.Param
	c       float64
	d       int
}

func newGauss(d int, mu, s []float64, c float64) *gaussEnergy {
	be := tensor.DefaultCPU()
	rho := make([]float64, d)
	for i := range rho {
		rho[i] = math.Log(s[i])
	}
	return &gaussEnergy{
		mu:  ad.NewParam("mu", tensor.FromFloat64s(be, tensor.Float64, tensor.Shape{d}, mu)),
		rho: ad.NewParam("rho", tensor.FromFloat64s(be, tensor.Float64, tensor.Shape{d}, rho)),
		c:   c, d: d,
	}
}

func (g *gaussEnergy) Spec() models.Spec   { return models.Spec{Kind: "gauss"} }
func (g *gaussEnergy) Params() []*ad.Param { return []*ad.Param{g.mu, g.rho} }
func (g *gaussEnergy) InputShape() []int   { return []int{g.d} }
func (g *gaussEnergy) DType() tensor.DType { return tensor.Float64 }
func (g *gaussEnergy) LogDensity(x *ad.Var) *ad.Var {
	tp := x.Tape()
	z := ad.Mul(ad.Sub(x, tp.Param(g.mu)), ad.Exp(ad.Neg(tp.Param(g.rho))))
	return ad.AddScalar(ad.Scale(ad.Sum(ad.Square(z), 1), -0.5), g.c)
}
