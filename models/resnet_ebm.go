package models

import (
	"fmt"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// ResBlockSpec is one residual block of resnet_ebm: its output width and
// whether it halves the spatial size.
type ResBlockSpec struct {
	Out  int  `json:"out"`
	Down bool `json:"down"`
}

// ResNetEBMOptions configure the resnet_ebm kind. With the defaults
// (n_chan 128, 32x32) it is the reference "Res18_Quadratic" deep EBM.
type ResNetEBMOptions struct {
	InChannels int            `json:"in_channels"` // default 1
	ImageSize  int            `json:"image_size"`  // default 32; 128 for ImageNet
	NChan      int            `json:"n_chan"`      // stem width, default 128
	Blocks     []ResBlockSpec `json:"blocks"`      // default: the reference nine blocks scaled by n_chan
	Activation Activation     `json:"activation"`  // default elu
}

// referenceBlocks are the reference network's blocks for stem width n:
// 2n (down), 2n, 2n, 4n (down), 4n, 4n, 8n (down), 8n, 8n.
func referenceBlocks(n int) []ResBlockSpec {
	return []ResBlockSpec{{2 * n, true}, {2 * n, false}, {2 * n, false}, {4 * n, true}, {4 * n, false}, {4 * n, false},
		{8 * n, true}, {8 * n, false}, {8 * n, false}}
}

func init() {
	register("resnet_ebm", "deep ResNet energy (pre-activation residual blocks, avg-pool downsampling, quadratic head)",
		func() *ResNetEBMOptions {
			return &ResNetEBMOptions{InChannels: 1, ImageSize: 32, NChan: 128, Activation: ActELU}
		},
		func(b *Builder, o *ResNetEBMOptions) (Model, error) { return NewResNetEBM(b, *o) })
}

// ResNetEBM is the deep energy network of the paper's image experiments:
// a 3x3 conv stem, pre-activation residual blocks without normalisation
// (out = conv2(act(conv1(act(x)))) + shortcut(x), with 2x2 average pooling
// after conv2 and before the 1x1 shortcut conv in down blocks), and the
// quadratic head on the flattened features.
//
// Parameter names: conv1.{weight,bias} (stem); blocks.{i}.conv1.weight,
// blocks.{i}.conv2.{weight,bias}, blocks.{i}.shortcut.{weight,bias};
// head.{l1,l2,lq}.{weight,bias}.
type ResNetEBM struct {
	opts   ResNetEBMOptions
	stem   *Conv2d
	blocks []resBlock
	head   *QuadraticHead
	params []*ad.Param
	dt     tensor.DType
}

type resBlock struct {
	conv1, conv2, shortcut *Conv2d
	down                   bool
}

// NewResNetEBM builds the network.
func NewResNetEBM(b *Builder, o ResNetEBMOptions) (*ResNetEBM, error) {
	if o.InChannels <= 0 || o.NChan <= 0 || o.ImageSize <= 0 {
		return nil, fmt.Errorf("in_channels, n_chan and image_size must be positive (got %d, %d, %d)", o.InChannels, o.NChan, o.ImageSize)
	}
	if err := o.Activation.Validate(); err != nil {
		return nil, err
	}
	if o.Blocks == nil {
		o.Blocks = referenceBlocks(o.NChan)
	}
	m := &ResNetEBM{opts: o, dt: b.DType()}
	m.stem = NewConv2d(b, "conv1", o.InChannels, o.NChan, 3, 1, 1, 1, true)
	in, size := o.NChan, o.ImageSize
	for i, bs := range o.Blocks {
		if bs.Out <= 0 {
			return nil, fmt.Errorf("block %d: out must be positive, got %d", i, bs.Out)
		}
		if bs.Down {
			if size%2 != 0 {
				return nil, fmt.Errorf("block %d downsamples a %dx%d map: image_size must stay even", i, size, size)
			}
			size /= 2
		}
		name := fmt.Sprintf("blocks.%d", i)
		m.blocks = append(m.blocks, resBlock{
			conv1:    NewConv2d(b, name+".conv1", in, in, 3, 1, 1, 1, false),
			conv2:    NewConv2d(b, name+".conv2", in, bs.Out, 3, 1, 1, 1, true),
			shortcut: NewConv2d(b, name+".shortcut", in, bs.Out, 1, 1, 0, 1, true),
			down:     bs.Down,
		})
		in = bs.Out
	}
	m.head = NewQuadraticHead(b, "head", in*size*size)
	m.params = b.Params()
	return m, nil
}

func (m *ResNetEBM) Spec() Spec          { return specOf("resnet_ebm", m.opts) }
func (m *ResNetEBM) Params() []*ad.Param { return m.params }
func (m *ResNetEBM) DType() tensor.DType { return m.dt }

// InputShape is [in_channels, image_size, image_size].
func (m *ResNetEBM) InputShape() []int {
	return []int{m.opts.InChannels, m.opts.ImageSize, m.opts.ImageSize}
}

// Energy returns E(x) per sample for x [n, C, S, S] (or [n, C*S*S]).
func (m *ResNetEBM) Energy(x *ad.Var) *ad.Var {
	act := m.opts.Activation.Apply
	s := m.opts.ImageSize
	h := m.stem.Forward(ad.Reshape(x, x.Shape()[0], m.opts.InChannels, s, s))
	for _, bl := range m.blocks {
		r := bl.conv2.Forward(act(bl.conv1.Forward(act(h))))
		sc := h
		if bl.down {
			r = AvgPool2d(r, 2)
			sc = AvgPool2d(sc, 2)
		}
		h = ad.Add(r, bl.shortcut.Forward(sc))
	}
	return m.head.Forward(ad.Reshape(h, h.Shape()[0], -1))
}

// LogDensity returns -E(x).
func (m *ResNetEBM) LogDensity(x *ad.Var) *ad.Var { return ad.Neg(m.Energy(x)) }
