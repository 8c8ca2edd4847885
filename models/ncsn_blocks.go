package models

import (
	"fmt"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// The building blocks of the NCSN score network (ncsn.go). Every block is
// conditioned on the noise level through CondInstanceNorm2dPlus layers,
// which take the batch's one-hot level matrix. Parameter names follow the
// NCSN reference modules, so a PyTorch state_dict maps one to one
// (tools/pytorch/ncsn.py).

// condResBlock is a pre-activation residual block:
//
//	out = shortcut(x) + conv2(act(norm2(conv1(act(norm1(x))))))
//
// Variants (names under the block's prefix):
//   - plain (in = out, no dilation): conv1, conv2 3×3 pad 1; identity shortcut.
//   - down, no dilation: conv1 in→in; conv2.conv 3×3 in→out then 2×2 mean
//     pooling; shortcut.conv 1×1 in→out then 2×2 mean pooling.
//   - dilated d: 3×3 convs with dilation d, padding d, no resolution change;
//     a "down" dilated block has conv1 in→in and a dilated 3×3 shortcut
//     in→out (it stands where the undilated net would downsample), a plain
//     dilated block has conv1 in→out and an identity shortcut.
//
// All convolutions have biases. norm1 is normalize1 (width in), norm2 is
// normalize2 (the width of conv1's output).
type condResBlock struct {
	norm1, norm2 *CondInstanceNorm2dPlus
	conv1, conv2 *Conv2d
	shortcut     *Conv2d // nil: identity
	pool         bool    // conv2 and shortcut are followed by 2×2 mean pooling
	act          Activation
}

// newCondResBlock creates a block; down selects the resampling variant and
// dilation 0 means an ordinary 3×3 convolution. Parameters are created in
// the reference module's registration order (so Params lists them as its
// state_dict does).
func newCondResBlock(b *Builder, name string, in, out, levels int, down bool, dilation int, act Activation) *condResBlock {
	k := &condResBlock{act: act}
	conv3 := func(n string, ci, co int) *Conv2d {
		if dilation > 0 {
			return NewConv2d(b, join(name, n), ci, co, 3, 1, dilation, dilation, true)
		}
		return NewConv2d(b, join(name, n), ci, co, 3, 1, 1, 1, true)
	}
	mid := out
	if down {
		mid = in
	}
	k.conv1 = conv3("conv1", in, mid)
	k.norm2 = NewCondInstanceNorm2dPlus(b, join(name, "normalize2"), mid, levels)
	switch {
	case down && dilation == 0:
		k.pool = true
		k.conv2 = NewConv2d(b, join(name, "conv2.conv"), in, out, 3, 1, 1, 1, true)
		k.shortcut = NewConv2d(b, join(name, "shortcut.conv"), in, out, 1, 1, 0, 1, true)
	case down:
		k.conv2 = conv3("conv2", in, out)
		k.shortcut = conv3("shortcut", in, out)
	default:
		if in != out {
			panic(fmt.Sprintf("models: residual block %s without resampling needs in = out, got %d, %d", name, in, out))
		}
		k.conv2 = conv3("conv2", mid, out)
	}
	k.norm1 = NewCondInstanceNorm2dPlus(b, join(name, "normalize1"), in, levels)
	return k
}

func (k *condResBlock) Forward(x, y *ad.Var) *ad.Var {
	h := k.conv1.Forward(k.act.Apply(k.norm1.Forward(x, y)))
	h = k.conv2.Forward(k.act.Apply(k.norm2.Forward(h, y)))
	sc := x
	if k.shortcut != nil {
		sc = k.shortcut.Forward(x)
	}
	if k.pool {
		h, sc = AvgPool2d(h, 2), AvgPool2d(sc, 2)
	}
	return ad.Add(sc, h)
}

// condRCU is a chain of residual conv units: blocks times
// x ← x + (stages × norm → act → conv3×3 without bias). Names
// {i}_{j}_norm.embed.weight and {i}_{j}_conv.weight, 1-based.
type condRCU struct {
	norms [][]*CondInstanceNorm2dPlus
	convs [][]*Conv2d
	act   Activation
}

func newCondRCU(b *Builder, name string, c, blocks, stages, levels int, act Activation) *condRCU {
	u := &condRCU{act: act}
	for i := 1; i <= blocks; i++ {
		var ns []*CondInstanceNorm2dPlus
		var cs []*Conv2d
		for j := 1; j <= stages; j++ {
			ns = append(ns, NewCondInstanceNorm2dPlus(b, join(name, fmt.Sprintf("%d_%d_norm", i, j)), c, levels))
			cs = append(cs, NewConv2d(b, join(name, fmt.Sprintf("%d_%d_conv", i, j)), c, c, 3, 1, 1, 1, false))
		}
		u.norms, u.convs = append(u.norms, ns), append(u.convs, cs)
	}
	return u
}

func (u *condRCU) Forward(x, y *ad.Var) *ad.Var {
	for i := range u.norms {
		h := x
		for j := range u.norms[i] {
			h = u.convs[i][j].Forward(u.act.Apply(u.norms[i][j].Forward(h, y)))
		}
		x = ad.Add(h, x)
	}
	return x
}

// crpPool is the 5×5 average pooling of chained residual pooling: stride 1
// and padding 2 keep the size; padded zeros count in the average
// (nn.AvgPool2d(5, 1, 2) with count_include_pad=True).
var crpPool = tensor.PoolParams{Kernel: 5, Stride: 1, Pad: 2}

// condRefineBlock is a conditional RefineNet block: each input path goes
// through 2 RCUs (adapt_convs.{i}); with several paths, multi-resolution
// fusion (msf) normalises each path, maps it to the output width with a
// 3×3 conv (msf.norms.{i}, msf.convs.{i}, with bias), resizes it
// bilinearly to the output size and sums; then chained residual pooling
// (crp): x ← act(x), and twice path ← conv3×3(avgpool5×5(norm(path))),
// x ← x + path (crp.norms.{i}, crp.convs.{i}, no bias; the pooling is
// stride 1, padding 2, zeros counted); last the output RCUs (output_convs:
// 3 units in the final block, else 1).
type condRefineBlock struct {
	adapt    []*condRCU
	msfNorms []*CondInstanceNorm2dPlus
	msfConvs []*Conv2d
	crpNorms []*CondInstanceNorm2dPlus
	crpConvs []*Conv2d
	output   *condRCU
	act      Activation
}

func newCondRefineBlock(b *Builder, name string, in []int, features, levels int, end bool, act Activation) *condRefineBlock {
	r := &condRefineBlock{act: act}
	for i, c := range in {
		r.adapt = append(r.adapt, newCondRCU(b, join(name, fmt.Sprintf("adapt_convs.%d", i)), c, 2, 2, levels, act))
	}
	outBlocks := 1
	if end {
		outBlocks = 3
	}
	r.output = newCondRCU(b, join(name, "output_convs"), features, outBlocks, 2, levels, act)
	if len(in) > 1 {
		for i, c := range in {
			r.msfConvs = append(r.msfConvs, NewConv2d(b, join(name, fmt.Sprintf("msf.convs.%d", i)), c, features, 3, 1, 1, 1, true))
		}
		for i, c := range in {
			r.msfNorms = append(r.msfNorms, NewCondInstanceNorm2dPlus(b, join(name, fmt.Sprintf("msf.norms.%d", i)), c, levels))
		}
	}
	for i := 0; i < 2; i++ {
		r.crpConvs = append(r.crpConvs, NewConv2d(b, join(name, fmt.Sprintf("crp.convs.%d", i)), features, features, 3, 1, 1, 1, false))
	}
	for i := 0; i < 2; i++ {
		r.crpNorms = append(r.crpNorms, NewCondInstanceNorm2dPlus(b, join(name, fmt.Sprintf("crp.norms.%d", i)), features, levels))
	}
	return r
}

// Forward refines the paths xs to an [n, features, outH, outW] map.
func (r *condRefineBlock) Forward(xs []*ad.Var, y *ad.Var, outH, outW int) *ad.Var {
	if len(xs) != len(r.adapt) {
		panic(fmt.Sprintf("models: refine block of %d paths given %d", len(r.adapt), len(xs)))
	}
	var h *ad.Var
	if len(xs) == 1 {
		h = r.adapt[0].Forward(xs[0], y)
	} else {
		for i, x := range xs {
			p := r.msfConvs[i].Forward(r.msfNorms[i].Forward(r.adapt[i].Forward(x, y), y))
			p = UpsampleBilinear(p, outH, outW)
			if h == nil {
				h = p
			} else {
				h = ad.Add(h, p)
			}
		}
	}
	h = r.act.Apply(h)
	path := h
	for i := range r.crpConvs {
		path = ad.AvgPool2D(r.crpNorms[i].Forward(path, y), crpPool)
		path = r.crpConvs[i].Forward(path)
		h = ad.Add(path, h)
	}
	return r.output.Forward(h, y)
}
