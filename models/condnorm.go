package models

import (
	"fmt"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// condNormEps is the ε of both normalisations in CondInstanceNorm2dPlus
// (PyTorch's InstanceNorm2d default, also used by the NCSN reference).
const condNormEps = 1e-5

// CondInstanceNorm2dPlus is NCSN's conditional instance normalisation++
// (Song & Ermon 2019, appendix A). For h [n, C, H, W] and noise level y:
//
//	μ_c, s_c² = mean and (biased) variance of channel c over H×W
//	m, v      = mean and unbiased variance (divisor C-1, as torch.var) of μ over c
//	out_c     = γ[y,c] ((h_c - μ_c)/√(s_c²+ε) + α[y,c] (μ_c - m)/√(v+ε)) + β[y,c]
//
// γ, α, β are the three C-wide column blocks of one embedding table
// name.embed.weight [L, 3C] (PyTorch's nn.Embedding layout, in that order),
// initialised γ, α ~ N(1, 0.02²) and β = 0. The α term puts back the
// channel-mean information that instance normalisation removes (the cause of
// colour shifts in samples).
type CondInstanceNorm2dPlus struct {
	Embed *ad.Param // [L, 3C]
	C, L  int       // channels and noise levels
}

// NewCondInstanceNorm2dPlus creates name.embed.weight for c channels and
// levels noise levels. It needs c >= 2 (the variance over channels divides
// by c-1).
func NewCondInstanceNorm2dPlus(b *Builder, name string, c, levels int) *CondInstanceNorm2dPlus {
	if c < 2 || levels < 1 {
		panic(fmt.Sprintf("models: CondInstanceNorm2dPlus with %d channels and %d levels", c, levels))
	}
	p := b.Param(join(name, "embed.weight"), tensor.Normal(1, 0.02), levels, 3*c)
	// β (the last C columns) starts at zero. Done through the backend so it
	// works for device-resident parameters too.
	vals := p.Value.ToFloat64s()
	for l := 0; l < levels; l++ {
		clear(vals[l*3*c+2*c : (l+1)*3*c])
	}
	tensor.WriteAs(p.Value, vals)
	return &CondInstanceNorm2dPlus{Embed: p, C: c, L: levels}
}

// Forward normalises x [n, C, H, W]; onehot [n, L] is the constant one-hot
// encoding of each sample's level (see OneHot).
//
// Written as out = (x - μ)·scale + shift with scale = γ/√(s²+ε) and
// shift = γ α (μ - m)/√(v+ε) + β, both [n, C, 1, 1], so only four
// full-size elementwise operations are recorded.
func (m *CondInstanceNorm2dPlus) Forward(x, onehot *ad.Var) *ad.Var {
	s := x.Shape()
	if len(s) != 4 || s[1] != m.C {
		panic(fmt.Sprintf("models: CondInstanceNorm2dPlus(%d) of input %v", m.C, s))
	}
	n, c := s[0], s[1]
	hw := float64(s[2] * s[3])

	// Per-sample γ, α, β rows: onehot · embed is a differentiable gather.
	e := ad.MatMul(onehot, x.Tape().Param(m.Embed), false, false) // [n, 3C]
	gamma := ad.Slice(e, 1, 0, c)
	alpha := ad.Slice(e, 1, c, 2*c)
	beta := ad.Slice(e, 1, 2*c, 3*c)

	mu := ad.Scale(ad.SumKeep(x, 2, 3), 1/hw) // [n, C, 1, 1]
	xc := ad.Sub(x, mu)
	variance := ad.Scale(ad.SumKeep(ad.Square(xc), 2, 3), 1/hw)
	rstd := ad.Reciprocal(ad.Sqrt(ad.AddScalar(variance, condNormEps)))

	mus := ad.Reshape(mu, n, c)
	d := ad.Sub(mus, ad.Scale(ad.SumKeep(mus, 1), 1/float64(c)))
	v := ad.Scale(ad.SumKeep(ad.Square(d), 1), 1/float64(c-1))
	mn := ad.Div(d, ad.Sqrt(ad.AddScalar(v, condNormEps))) // [n, C]

	scale := ad.Mul(ad.Reshape(gamma, n, c, 1, 1), rstd)
	shift := ad.Reshape(ad.Add(ad.Mul(gamma, ad.Mul(alpha, mn)), beta), n, c, 1, 1)
	return ad.Add(ad.Mul(xc, scale), shift)
}

// OneHot returns the constant [len(levels), numLevels] one-hot matrix of
// levels on tape tp, in dtype dt. It panics on a level outside
// [0, numLevels).
func OneHot(tp *ad.Tape, dt tensor.DType, levels []int, numLevels int) *ad.Var {
	data := make([]float64, len(levels)*numLevels)
	for i, l := range levels {
		if l < 0 || l >= numLevels {
			panic(fmt.Sprintf("models: noise level %d of sample %d outside [0, %d)", l, i, numLevels))
		}
		data[i*numLevels+l] = 1
	}
	return tp.Owned(tensor.FromFloat64s(tp.Backend(), dt, tensor.Shape{len(levels), numLevels}, data))
}
