package study

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// plotMetrics are the quantities Plot draws against GPUs, one PNG each.
var plotMetrics = []struct {
	file, label string
	logY, left  bool // left: the legend where rising lines leave room
	value       func(ModelRow) float64
}{
	{"time", "time per iteration (ms)", true, false, func(r ModelRow) float64 { return r.Ms }},
	{"throughput", "samples per second", true, true, func(r ModelRow) float64 { return r.SamplesPerSec }},
	{"efficiency", "scaling efficiency", false, false, func(r ModelRow) float64 { return r.Efficiency }},
}

// Plot writes, per profile, <profile>-time.png, -throughput.png and
// -efficiency.png into dir: one line per mode against GPUs (log2 axis),
// and this host's measured times on the local profile's time plot.
func Plot(r Result, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("plots: %w", err)
	}
	for i, prof := range r.Profiles {
		for _, m := range plotMetrics {
			p, err := plotMetric(r.Model, prof.Name, m.label, m.logY, m.value)
			if err != nil {
				return err
			}
			p.Legend.Left = m.left
			if i == 0 && m.file == "time" && len(r.Validation) > 0 {
				if err := addMeasured(p, r.Validation); err != nil {
					return err
				}
			}
			path := filepath.Join(dir, prof.Name+"-"+m.file+".png")
			if err := p.Save(18*vg.Centimeter, 12*vg.Centimeter, path); err != nil {
				return fmt.Errorf("plot %s: %w", path, err)
			}
		}
	}
	return nil
}

// plotMetric draws one quantity of one profile's rows, a line per mode.
func plotMetric(rows []ModelRow, profile, label string, logY bool, value func(ModelRow) float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = profile
	p.X.Label.Text = "GPUs"
	p.Y.Label.Text = label
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = powerTicks{}
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks125{}
	}
	var modes []string
	for _, r := range rows {
		if r.Profile == profile && !slices.Contains(modes, r.Mode) {
			modes = append(modes, r.Mode)
		}
	}
	for i, mode := range modes {
		var xy plotter.XYs
		for _, r := range rows {
			if r.Profile == profile && r.Mode == mode && value(r) > 0 {
				xy = append(xy, plotter.XY{X: float64(r.GPUs), Y: value(r)})
			}
		}
		l, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, fmt.Errorf("plot %s %s: %w", profile, mode, err)
		}
		l.Color, pts.Color = plotutil.Color(i), plotutil.Color(i)
		if strings.HasPrefix(mode, "strong") {
			l.Dashes = plotutil.Dashes(1)
		}
		p.Add(l, pts)
		p.Legend.Add(mode, l, pts)
	}
	p.Legend.Top = true
	return p, nil
}

// addMeasured marks the measured times per iteration (all ranks on this
// one host) and the model's predictions of them given each run's
// background load: data parallel runs, and fdpar groups at their device
// count.
func addMeasured(p *plot.Plot, v []ValidationRow) error {
	var dp, fd []ValidationRow
	for _, r := range v {
		if r.FDDevices > 0 {
			fd = append(fd, r)
		} else {
			dp = append(dp, r)
		}
	}
	if err := addMeasuredPair(p, dp, "here (weak)", 0); err != nil {
		return err
	}
	return addMeasuredPair(p, fd, "here, fdpar group", 1)
}

// addMeasuredPair adds rows' measured and predicted times as two scatter
// series: a plus (or, for kind 1, a triangle) inside a ring.
func addMeasuredPair(p *plot.Plot, rows []ValidationRow, what string, kind int) error {
	if len(rows) == 0 {
		return nil
	}
	for i, series := range []struct {
		label string
		ms    func(ValidationRow) float64
	}{
		{"measured " + what, func(r ValidationRow) float64 { return r.MeasuredMs }},
		{"predicted, its load", func(r ValidationRow) float64 { return r.PredictedLoadedMs }},
	} {
		var xy plotter.XYs
		for _, r := range rows {
			xy = append(xy, plotter.XY{X: float64(r.NP * max(1, r.FDDevices)), Y: series.ms(r)})
		}
		s, err := plotter.NewScatter(xy)
		if err != nil {
			return err
		}
		s.Shape = plotutil.Shape(4 - 4*i - 2*kind*(1-i)) // measured: a plus (dp) or a triangle (fd); predicted: a ring
		s.Radius = vg.Points(float64(4 + 2*i))
		p.Add(s)
		if i == 0 || kind == 0 {
			p.Legend.Add(series.label, s)
		}
	}
	return nil
}

// powerTicks labels the powers of two in range.
type powerTicks struct{}

func (powerTicks) Ticks(lo, hi float64) []plot.Tick {
	var t []plot.Tick
	for g := 1.0; g <= hi; g *= 2 {
		if g >= lo {
			t = append(t, plot.Tick{Value: g, Label: strconv.Itoa(int(g))})
		}
	}
	return t
}

// logTicks125 labels 1, 2 and 5 times the powers of ten in range: plot's
// LogTicks labels powers of ten only, often one or none on these plots.
type logTicks125 struct{}

func (logTicks125) Ticks(lo, hi float64) []plot.Tick {
	var t []plot.Tick
	for d := math.Pow(10, math.Floor(math.Log10(lo))); d <= hi; d *= 10 {
		for _, m := range []float64{1, 2, 5} {
			if v := m * d; v >= lo && v <= hi {
				t = append(t, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', 3, 64)})
			}
		}
	}
	return t
}
