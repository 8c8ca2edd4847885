package data

import (
	"math"
)

// ToPixels maps values in the space the transforms ts produce (a model's
// input space) back to pixel scale [0, 1], in place: it inverts Centre and
// Logit, in reverse order, and clamps. The other transforms are the identity
// on values (pad keeps its border; flips and dequantisation noise are not
// undone). shape is one sample's shape, vals holds whole samples.
func ToPixels(ts []Transform, vals []float32, shape []int) {
	per := 1
	for _, d := range shape {
		per *= d
	}
	for k := len(ts) - 1; k >= 0; k-- {
		switch t := ts[k].(type) {
		case Logit:
			for i, v := range vals {
				y := 1 / (1 + math.Exp(-float64(v)))
				vals[i] = float32((y - t.Alpha) / (1 - 2*t.Alpha))
			}
		case Centre:
			for i := range vals {
				vals[i] += float32(t.meanAt(i%per, per))
			}
		}
	}
	for i, v := range vals {
		vals[i] = min(max(v, 0), 1)
	}
}

// meanAt is the mean Centre subtracted at index i of a sample of per values.
func (c Centre) meanAt(i, per int) float64 {
	if c.Means == nil {
		return c.Mean
	}
	return c.Means[i/(per/len(c.Means))]
}
