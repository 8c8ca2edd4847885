package data

import (
	"fmt"
	"math"
	"strings"
)

// Info summarises a dataset: size, value range and per-channel statistics.
type Info struct {
	Name    string    `json:"name"`
	Count   int       `json:"count"`
	Shape   []int     `json:"shape"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	Mean    []float64 `json:"mean"` // per channel (first axis of the sample shape)
	Std     []float64 `json:"std"`
	Labels  int       `json:"labelled"` // samples with a label
	Classes int       `json:"classes"`  // distinct labels
}

// Describe reads every sample of d (or the first limit when limit > 0) and
// returns its statistics; progress, if set, is called every 1000 samples.
func Describe(d Dataset, limit int, progress func(done, total int)) (Info, error) {
	n := d.Len()
	if limit > 0 && limit < n {
		n = limit
	}
	shape := d.Shape()
	per := Numel(d)
	ch := 1
	if len(shape) > 1 {
		ch = shape[0]
	}
	inner := per / ch
	sum, sq := make([]float64, ch), make([]float64, ch)
	info := Info{Name: d.Name(), Count: d.Len(), Shape: shape, Min: math.Inf(1), Max: math.Inf(-1)}
	labels := map[int]bool{}
	buf := make([]float32, per)
	for i := 0; i < n; i++ {
		l, err := d.Get(i, buf)
		if err != nil {
			return Info{}, err
		}
		if l >= 0 {
			info.Labels++
			labels[l] = true
		}
		for c := 0; c < ch; c++ {
			for _, v := range buf[c*inner : (c+1)*inner] {
				f := float64(v)
				sum[c] += f
				sq[c] += f * f
				info.Min = math.Min(info.Min, f)
				info.Max = math.Max(info.Max, f)
			}
		}
		if progress != nil && (i+1)%1000 == 0 {
			progress(i+1, n)
		}
	}
	cnt := float64(n * inner)
	for c := 0; c < ch; c++ {
		m := sum[c] / cnt
		info.Mean = append(info.Mean, m)
		info.Std = append(info.Std, math.Sqrt(math.Max(sq[c]/cnt-m*m, 0)))
	}
	info.Classes = len(labels)
	return info, nil
}

// String formats the summary for people.
func (i Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dataset  %s\nsamples  %d of shape %v\nrange    [%.4g, %.4g]\n", i.Name, i.Count, i.Shape, i.Min, i.Max)
	for c := range i.Mean {
		fmt.Fprintf(&b, "channel %d: mean %.4f std %.4f\n", c, i.Mean[c], i.Std[c])
	}
	if i.Labels > 0 {
		fmt.Fprintf(&b, "labels   %d samples, %d classes\n", i.Labels, i.Classes)
	}
	return b.String()
}
