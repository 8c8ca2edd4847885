package data

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/fdsm-go/fdsm/tensor"
)

// Transform is one per-sample preprocessing step, composed from the config
// (see ParseTransforms) and run by the Loader's workers.
//
// OutShape returns the shape of a transformed sample for input shape in, or
// nil when the transform cannot take that shape (or is misconfigured).
//
// Apply writes the transform of src (a sample of the given shape) into dst
// (len = product of OutShape(shape)). dst and src may be the same slice when
// OutShape(shape) equals shape; otherwise they must not overlap. Random
// transforms draw from rng, the sample's own generator; deterministic ones
// ignore it. Apply must not allocate: it runs once per sample.
type Transform interface {
	OutShape(in []int) []int
	Apply(dst, src []float32, shape []int, rng *tensor.RNG)
}

// OutShapeOf checks that ts can run in order on samples of shape in and
// returns the final shape.
func OutShapeOf(ts []Transform, in []int) ([]int, error) {
	shape := slices.Clone(in)
	for k, t := range ts {
		if v, ok := t.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				return nil, fmt.Errorf("transform %d (%v): %w", k, t, err)
			}
		}
		out := t.OutShape(shape)
		if out == nil {
			return nil, fmt.Errorf("transform %d (%v) cannot take samples of shape %v", k, t, shape)
		}
		shape = out
	}
	return shape, nil
}

// ZeroPad pads the last two axes (H, W) of an image with zeros to To x To,
// centred: MNIST 28 -> 32 gets 2 pixels on each side, as
// torchvision.transforms.Pad(2) does. An odd difference puts the extra pixel
// at the bottom/right (torchvision's CenterCrop padding rule). To smaller
// than H or W is an error (OutShape returns nil); To equal to both copies.
type ZeroPad struct{ To int }

func (p ZeroPad) String() string { return "pad:" + strconv.Itoa(p.To) }

func (p ZeroPad) OutShape(in []int) []int {
	n := len(in)
	if n < 2 || p.To < in[n-2] || p.To < in[n-1] {
		return nil
	}
	out := slices.Clone(in)
	out[n-2], out[n-1] = p.To, p.To
	return out
}

func (p ZeroPad) Apply(dst, src []float32, shape []int, _ *tensor.RNG) {
	h, w, to := shape[len(shape)-2], shape[len(shape)-1], p.To
	if h == to && w == to {
		copy(dst, src)
		return
	}
	clear(dst)
	if h*w == 0 {
		return
	}
	top, left := (to-h)/2, (to-w)/2
	for c := range len(src) / (h * w) {
		in, out := src[c*h*w:(c+1)*h*w], dst[c*to*to:(c+1)*to*to]
		for y := range h {
			copy(out[(top+y)*to+left:], in[y*w:(y+1)*w])
		}
	}
}

// RandomHFlip mirrors an image along its last axis (W) with probability P;
// P == 0 means the usual 0.5. It draws one uniform per sample.
type RandomHFlip struct{ P float64 }

func (f RandomHFlip) prob() float64 {
	if f.P == 0 {
		return 0.5
	}
	return f.P
}

func (f RandomHFlip) String() string { return "hflip:" + fmtFloat(f.prob()) }

// Validate rejects probabilities outside [0, 1].
func (f RandomHFlip) Validate() error {
	if !(f.P >= 0 && f.P <= 1) {
		return fmt.Errorf("flip probability %v outside [0, 1]", f.P)
	}
	return nil
}

func (f RandomHFlip) OutShape(in []int) []int {
	if len(in) < 2 { // a feature vector has no horizontal axis
		return nil
	}
	return slices.Clone(in)
}

func (f RandomHFlip) Apply(dst, src []float32, shape []int, rng *tensor.RNG) {
	if rng.Float64() >= f.prob() {
		copy(dst, src)
		return
	}
	w := shape[len(shape)-1]
	for r := 0; r+w <= len(src) && w > 0; r += w {
		s, d := src[r:r+w], dst[r:r+w]
		// Pairwise swap reads both ends before writing: correct in place too.
		for i, j := 0, w-1; i <= j; i, j = i+1, j-1 {
			d[i], d[j] = s[j], s[i]
		}
	}
}

// Dequantization modes (paper-code-facts §3).
const (
	// DequantizeNICE is the NICE preprocessing: x + (U - 0.5)/Levels, then
	// clamped to [1e-3, 1 - 1e-3] so a following Logit stays finite.
	DequantizeNICE = "nice"
	// DequantizeNCSN is the NCSN one: x·(Levels-1)/Levels + U/Levels.
	DequantizeNCSN = "ncsn"
)

// NICEClamp is the margin DequantizeNICE clamps to.
const NICEClamp = 1e-3

// Dequantize adds uniform noise to data quantised to Levels values in [0, 1]
// (Levels == 0 means 256). Mode must be DequantizeNICE or DequantizeNCSN.
// It draws one uniform per element.
type Dequantize struct {
	Mode   string
	Levels int
}

func (d Dequantize) levels() float64 {
	if d.Levels == 0 {
		return 256
	}
	return float64(d.Levels)
}

func (d Dequantize) String() string {
	return "dequantize:" + d.Mode + ":" + strconv.Itoa(int(d.levels()))
}

// Validate rejects an unknown mode or a negative level count.
func (d Dequantize) Validate() error {
	if d.Mode != DequantizeNICE && d.Mode != DequantizeNCSN {
		return fmt.Errorf("dequantize mode %q is not %q or %q", d.Mode, DequantizeNICE, DequantizeNCSN)
	}
	if d.Levels < 0 || d.Levels == 1 {
		return fmt.Errorf("dequantize levels %d must be at least 2", d.Levels)
	}
	return nil
}

func (d Dequantize) OutShape(in []int) []int {
	if d.Validate() != nil {
		return nil
	}
	return slices.Clone(in)
}

func (d Dequantize) Apply(dst, src []float32, _ []int, rng *tensor.RNG) {
	l := d.levels()
	if d.Mode == DequantizeNCSN {
		for i, x := range src {
			dst[i] = float32(float64(x)*(l-1)/l + rng.Float64()/l)
		}
		return
	}
	for i, x := range src {
		v := float64(x) + (rng.Float64()-0.5)/l
		dst[i] = float32(min(max(v, NICEClamp), 1-NICEClamp))
	}
}

// Logit maps x in (0, 1) to log(y/(1-y)) with y = Alpha + (1-2·Alpha)·x
// (RealNVP's squeeze; Alpha == 0 is the plain logit NICE uses after
// Dequantize's clamp). Inputs at 0 or 1 with Alpha == 0 give ±Inf.
type Logit struct{ Alpha float64 }

func (t Logit) String() string {
	if t.Alpha == 0 {
		return "logit"
	}
	return "logit:" + fmtFloat(t.Alpha)
}

// Validate rejects Alpha outside [0, 0.5).
func (t Logit) Validate() error {
	if !(t.Alpha >= 0 && t.Alpha < 0.5) {
		return fmt.Errorf("logit alpha %v outside [0, 0.5)", t.Alpha)
	}
	return nil
}

func (t Logit) OutShape(in []int) []int { return slices.Clone(in) }

func (t Logit) Apply(dst, src []float32, _ []int, _ *tensor.RNG) {
	for i, x := range src {
		y := t.Alpha + (1-2*t.Alpha)*float64(x)
		dst[i] = float32(math.Log(y / (1 - y)))
	}
}

// Centre subtracts Mean from every value or, when Means is set, Means[c]
// from the values at index c of the sample's first axis (the channel of a
// [C, H, W] image, the column of a feature vector).
type Centre struct {
	Mean  float64
	Means []float64
}

func (c Centre) String() string {
	if c.Means == nil {
		return "centre:" + fmtFloat(c.Mean)
	}
	s := make([]string, len(c.Means))
	for i, m := range c.Means {
		s[i] = fmtFloat(m)
	}
	return "centre:" + strings.Join(s, ",")
}

func (c Centre) OutShape(in []int) []int {
	if c.Means != nil && (len(in) == 0 || in[0] != len(c.Means)) {
		return nil
	}
	return slices.Clone(in)
}

func (c Centre) Apply(dst, src []float32, _ []int, _ *tensor.RNG) {
	if c.Means == nil {
		for i, x := range src {
			dst[i] = float32(float64(x) - c.Mean)
		}
		return
	}
	per := len(src) / len(c.Means)
	for ch, m := range c.Means {
		for i := ch * per; i < (ch+1)*per; i++ {
			dst[i] = float32(float64(src[i]) - m)
		}
	}
}

// Scale01 marks that the model expects values in [0, 1], which every
// Dataset already yields; it only copies.
type Scale01 struct{}

func (Scale01) String() string                                   { return "scale01" }
func (Scale01) OutShape(in []int) []int                          { return slices.Clone(in) }
func (Scale01) Apply(dst, src []float32, _ []int, _ *tensor.RNG) { copy(dst, src) }

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
