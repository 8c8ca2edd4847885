package models

import (
	"fmt"
	"math"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// NCSNOptions configure the ncsn kind.
type NCSNOptions struct {
	Channels   int        `json:"channels"`    // default 3
	ImageSize  int        `json:"image_size"`  // default 32; even (one 2× downsampling)
	NGF        int        `json:"ngf"`         // default 128; base width, at least 2
	NumLevels  int        `json:"num_levels"`  // default 10
	SigmaBegin float64    `json:"sigma_begin"` // default 1, the largest σ (level 0)
	SigmaEnd   float64    `json:"sigma_end"`   // default 0.01, the smallest σ (level L-1)
	Activation Activation `json:"activation"`  // default elu
	// RescaleInput maps data x in [0, 1] to 2x - 1 before the first
	// convolution, as the NCSN reference does for data without a logit
	// transform (its CIFAR-10 setting). Default true.
	RescaleInput bool `json:"rescale_input"`
}

func init() {
	register("ncsn", "NCSN score network s(x, σ_i): conditional RefineNet (dilated), CondInstanceNorm++, Song & Ermon 2019",
		func() *NCSNOptions {
			return &NCSNOptions{Channels: 3, ImageSize: 32, NGF: 128, NumLevels: 10,
				SigmaBegin: 1, SigmaEnd: 0.01, Activation: ActELU, RescaleInput: true}
		},
		func(b *Builder, o *NCSNOptions) (Model, error) { return NewNCSN(b, *o) })
}

// NCSN is the noise-conditional score network of Song & Ermon 2019
// ("Generative Modeling by Estimating Gradients of the Data Distribution"),
// the dilated conditional RefineNet (CondRefineNetDilated) of its CIFAR-10
// experiments. With image size S and base width ngf (blocks in
// ncsn_blocks.go, each conditioned on the level through
// CondInstanceNorm2dPlus):
//
//	begin_conv  3×3 C → ngf                                        S×S
//	res1        2 residual blocks ngf → ngf                        S×S
//	res2        down block ngf → 2ngf (conv + 2×2 mean pool), 2ngf  S/2
//	res3        2 blocks 2ngf, dilation 2 (the first with a conv    S/2
//	            shortcut where the undilated net would downsample)
//	res4        the same with dilation 4                            S/2
//	refine1     RefineBlock([res4])          → 2ngf                 S/2
//	refine2     RefineBlock([res3, refine1]) → 2ngf                 S/2
//	refine3     RefineBlock([res2, refine2]) → ngf                  S/2
//	refine4     RefineBlock([res1, refine3]) → ngf, 3 output RCUs   S (bilinear 2×)
//	normalizer, act, end_conv 3×3 ngf → C                           S×S
//
// The dilated version keeps S/2 from res2 on and widens the receptive
// field with dilation instead of further downsampling. Like NCSN v1 the
// output is the network's raw output, not divided by σ: the network learns
// the σ-dependence through its conditional normalisations.
//
// Parameter names are the reference's state_dict names (begin_conv.weight,
// res1.0.normalize1.embed.weight, res2.0.conv2.conv.weight,
// refine2.adapt_convs.1.2_1_conv.weight, refine2.msf.norms.0.embed.weight,
// refine4.crp.convs.1.weight, normalizer.embed.weight, end_conv.bias, ...),
// so checkpoints load into tools/pytorch/ncsn.py. At the defaults it has
// 30,117,635 parameters.
type NCSN struct {
	opts       NCSNOptions
	beginConv  *Conv2d
	normalizer *CondInstanceNorm2dPlus
	endConv    *Conv2d
	res        [4][]*condResBlock
	refine     [4]*condRefineBlock
	params     []*ad.Param
	dt         tensor.DType
}

// NewNCSN builds the score network.
func NewNCSN(b *Builder, o NCSNOptions) (*NCSN, error) {
	switch {
	case o.Channels < 1:
		return nil, fmt.Errorf("channels must be positive, got %d", o.Channels)
	case o.ImageSize < 2 || o.ImageSize%2 != 0:
		return nil, fmt.Errorf("image_size must be even and at least 2, got %d", o.ImageSize)
	case o.NGF < 2:
		return nil, fmt.Errorf("ngf must be at least 2 (the normalisation's variance over channels divides by ngf-1), got %d", o.NGF)
	case o.NumLevels < 1:
		return nil, fmt.Errorf("num_levels must be positive, got %d", o.NumLevels)
	case !(o.SigmaBegin > 0) || !(o.SigmaEnd > 0) || math.IsInf(o.SigmaBegin, 0) || math.IsInf(o.SigmaEnd, 0):
		return nil, fmt.Errorf("sigma_begin and sigma_end must be positive and finite, got %v, %v", o.SigmaBegin, o.SigmaEnd)
	}
	if err := o.Activation.Validate(); err != nil {
		return nil, err
	}
	m := &NCSN{opts: o, dt: b.DType()}
	f, l, act := o.NGF, o.NumLevels, o.Activation
	// Created in the reference module's registration order.
	m.beginConv = NewConv2d(b, "begin_conv", o.Channels, f, 3, 1, 1, 1, true)
	m.normalizer = NewCondInstanceNorm2dPlus(b, "normalizer", f, l)
	m.endConv = NewConv2d(b, "end_conv", f, o.Channels, 3, 1, 1, 1, true)
	m.res[0] = []*condResBlock{
		newCondResBlock(b, "res1.0", f, f, l, false, 0, act),
		newCondResBlock(b, "res1.1", f, f, l, false, 0, act),
	}
	m.res[1] = []*condResBlock{
		newCondResBlock(b, "res2.0", f, 2*f, l, true, 0, act),
		newCondResBlock(b, "res2.1", 2*f, 2*f, l, false, 0, act),
	}
	for i, dil := range []int{2, 4} {
		name := fmt.Sprintf("res%d", i+3)
		m.res[i+2] = []*condResBlock{
			newCondResBlock(b, name+".0", 2*f, 2*f, l, true, dil, act),
			newCondResBlock(b, name+".1", 2*f, 2*f, l, false, dil, act),
		}
	}
	m.refine[0] = newCondRefineBlock(b, "refine1", []int{2 * f}, 2*f, l, false, act)
	m.refine[1] = newCondRefineBlock(b, "refine2", []int{2 * f, 2 * f}, 2*f, l, false, act)
	m.refine[2] = newCondRefineBlock(b, "refine3", []int{2 * f, 2 * f}, f, l, false, act)
	m.refine[3] = newCondRefineBlock(b, "refine4", []int{f, f}, f, l, true, act)
	m.params = b.Params()
	return m, nil
}

func (m *NCSN) Spec() Spec          { return specOf("ncsn", m.opts) }
func (m *NCSN) Params() []*ad.Param { return m.params }
func (m *NCSN) DType() tensor.DType { return m.dt }

// InputShape is [channels, image_size, image_size].
func (m *NCSN) InputShape() []int {
	return []int{m.opts.Channels, m.opts.ImageSize, m.opts.ImageSize}
}

// Levels returns the number of noise levels.
func (m *NCSN) Levels() int { return m.opts.NumLevels }

// Sigmas returns the noise levels σ_0 > ... > σ_{L-1}, geometric from
// sigma_begin to sigma_end: σ_i = exp(log σ_begin + i/(L-1)·log(σ_end/σ_begin)).
func (m *NCSN) Sigmas() []float64 {
	return GeometricSigmas(m.opts.SigmaBegin, m.opts.SigmaEnd, m.opts.NumLevels)
}

// GeometricSigmas returns n values from begin to end with a constant
// ratio (begin alone when n = 1), as np.exp(np.linspace(log b, log e, n)).
func GeometricSigmas(begin, end float64, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		t := 0.0
		if n > 1 {
			t = float64(i) / float64(n-1)
		}
		s[i] = math.Exp(math.Log(begin) + t*(math.Log(end)-math.Log(begin)))
	}
	return s
}

// Score returns the network output s(x, σ_l) for each sample of x
// [n, C, S, S] (any shape with C·S·S elements per sample is accepted) at
// the levels of the one-hot y [n, Levels()]; the result has x's shape.
func (m *NCSN) Score(x, y *ad.Var) *ad.Var {
	shape := x.Shape()
	c, s := m.opts.Channels, m.opts.ImageSize
	if len(shape) < 1 || shape.Numel() != shape[0]*c*s*s {
		panic(fmt.Sprintf("models: ncsn input %v, want [n %d %d %d]", shape, c, s, s))
	}
	n := shape[0]
	if ys := y.Shape(); len(ys) != 2 || ys[0] != n || ys[1] != m.opts.NumLevels {
		panic(fmt.Sprintf("models: ncsn given levels %v for %d samples of %d levels", ys, n, m.opts.NumLevels))
	}

	h := ad.Reshape(x, n, c, s, s)
	if m.opts.RescaleInput {
		h = ad.AddScalar(ad.Scale(h, 2), -1)
	}
	h = m.beginConv.Forward(h)
	var layers [4]*ad.Var
	for i, blocks := range m.res {
		for _, k := range blocks {
			h = k.Forward(h, y)
		}
		layers[i] = h
	}
	half := layers[3].Shape()[2]
	r := m.refine[0].Forward([]*ad.Var{layers[3]}, y, half, half)
	r = m.refine[1].Forward([]*ad.Var{layers[2], r}, y, half, half)
	r = m.refine[2].Forward([]*ad.Var{layers[1], r}, y, half, half)
	r = m.refine[3].Forward([]*ad.Var{layers[0], r}, y, s, s)

	out := m.endConv.Forward(m.opts.Activation.Apply(m.normalizer.Forward(r, y)))
	return ad.Reshape(out, shape...)
}
