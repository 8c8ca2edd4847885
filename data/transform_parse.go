package data

import (
	"fmt"
	"strconv"
	"strings"
)

// TransformSpecs lists the forms ParseTransforms accepts.
const TransformSpecs = "pad:N, hflip[:P], dequantize:nice|ncsn[:LEVELS], logit[:ALPHA], centre[:MEAN|M1,M2,...], scale01"

// ParseTransforms builds transforms from config strings such as "pad:32",
// "hflip", "dequantize:nice", "logit", "centre" (mean 0.5) or
// "centre:0.49,0.48,0.45" (per channel); "center" is accepted too. Each
// transform's String gives back its spec.
func ParseTransforms(spec []string) ([]Transform, error) {
	out := make([]Transform, 0, len(spec))
	for k, s := range spec {
		t, err := parseTransform(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("transform %d %q: %w (valid: %s)", k, s, err, TransformSpecs)
		}
		if v, ok := t.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				return nil, fmt.Errorf("transform %d %q: %w", k, s, err)
			}
		}
		out = append(out, t)
	}
	return out, nil
}

func parseTransform(s string) (Transform, error) {
	name, arg, hasArg := strings.Cut(s, ":")
	float := func(def float64) (float64, error) {
		if !hasArg {
			return def, nil
		}
		v, err := strconv.ParseFloat(arg, 64)
		if err != nil {
			return 0, fmt.Errorf("bad number %q", arg)
		}
		return v, nil
	}
	noArg := func(t Transform) (Transform, error) {
		if hasArg {
			return nil, fmt.Errorf("%s takes no argument", name)
		}
		return t, nil
	}
	switch name {
	case "pad":
		n, err := strconv.Atoi(arg)
		if !hasArg || err != nil || n < 1 {
			return nil, fmt.Errorf("pad needs a positive size, as in pad:32")
		}
		return ZeroPad{To: n}, nil
	case "hflip":
		p, err := float(0.5)
		return RandomHFlip{P: p}, err
	case "dequantize":
		mode, lv, hasLv := strings.Cut(arg, ":")
		d := Dequantize{Mode: mode, Levels: 256}
		if hasLv {
			n, err := strconv.Atoi(lv)
			if err != nil {
				return nil, fmt.Errorf("bad level count %q", lv)
			}
			d.Levels = n
		}
		return d, nil
	case "logit":
		a, err := float(0)
		return Logit{Alpha: a}, err
	case "centre", "center":
		if !strings.Contains(arg, ",") {
			m, err := float(0.5)
			return Centre{Mean: m}, err
		}
		var c Centre
		for _, f := range strings.Split(arg, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil {
				return nil, fmt.Errorf("bad mean %q", f)
			}
			c.Means = append(c.Means, v)
		}
		return c, nil
	case "scale01":
		return noArg(Scale01{})
	}
	return nil, fmt.Errorf("unknown transform %q", name)
}
