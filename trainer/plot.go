package trainer

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
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
	"gonum.org/v1/plot/vg/draw"
)

// Names of the plots PlotRun writes.
const (
	LossPlotFile = "loss.png"
	TimePlotFile = "time.png"
)

// plotW and plotH size both figures: wide enough to resolve a long run.
const (
	plotW = 10 * vg.Inch
	plotH = 5 * vg.Inch
)

// PlotRun writes LossPlotFile (loss against step, skipped steps marked) and
// TimePlotFile (milliseconds per step and its parts against step) into dir,
// creating it if needed. Records of a branch abandoned by a resume are
// dropped first (LinearHistory). Each file is written to a temporary name and
// renamed, so a reader never sees a half-written image.
func PlotRun(metrics []StepMetrics, dir string) error {
	if len(metrics) == 0 {
		return errors.New("plot: no metrics to plot (empty log?)")
	}
	ms := LinearHistory(metrics)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	lp, err := plotLoss(ms)
	if err != nil {
		return fmt.Errorf("plot %s: %w", LossPlotFile, err)
	}
	if err := plotSavePNG(lp, filepath.Join(dir, LossPlotFile)); err != nil {
		return err
	}
	tp, err := plotTime(ms)
	if err != nil {
		return fmt.Errorf("plot %s: %w", TimePlotFile, err)
	}
	return plotSavePNG(tp, filepath.Join(dir, TimePlotFile))
}

func plotFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// plotLoss draws the loss of the steps that were applied as a line and the
// skipped steps as red crosses: at their loss when it is finite, on the
// bottom of the axis when it is not (the usual reason for skipping).
func plotLoss(ms []StepMetrics) (*plot.Plot, error) {
	var line, skip plotter.XYs
	var skipNonFinite []float64 // steps of skipped records without a finite loss
	for _, m := range ms {
		switch {
		case m.Skipped && plotFinite(m.Loss):
			skip = append(skip, plotter.XY{X: float64(m.Step), Y: m.Loss})
		case m.Skipped:
			skipNonFinite = append(skipNonFinite, float64(m.Step))
		case plotFinite(m.Loss):
			line = append(line, plotter.XY{X: float64(m.Step), Y: m.Loss})
		}
	}
	p := plot.New()
	p.Title.Text = "Training loss"
	p.X.Label.Text = "step"
	p.X.Tick.Marker = plotStepTicks{}
	p.Y.Label.Text = "loss"
	p.Add(plotter.NewGrid())

	// Log scale when the loss is positive and falls over more than two
	// decades: on a linear axis the whole run after the first steps would
	// be a flat line on the bottom.
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, xy := range slices.Concat(line, skip) {
		lo, hi = min(lo, xy.Y), max(hi, xy.Y)
	}
	if lo > 0 && hi/lo > 100 {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Y.Label.Text = "loss (log scale)"
	}
	if math.IsInf(lo, 0) { // nothing finite at all: put the crosses at 0
		lo = 0
	}
	for _, s := range skipNonFinite {
		skip = append(skip, plotter.XY{X: s, Y: lo})
	}

	if len(line) > 0 {
		if err := plotAddSeries(p, line, plotutil.Color(2), "loss"); err != nil {
			return nil, err
		}
	}
	if len(skip) > 0 {
		s, err := plotter.NewScatter(skip)
		if err != nil {
			return nil, err
		}
		s.Shape = draw.CrossGlyph{}
		s.Color = color.RGBA{R: 220, A: 255}
		p.Add(s)
		p.Legend.Add(fmt.Sprintf("skipped (%d)", len(skip)), s)
	}
	p.Legend.Top = true
	return p, nil
}

// plotTime draws the step time and each of its parts as separate lines
// (stacking would hide the part not accounted for: the difference between
// the step time and the sum of the parts). Parts never recorded are left out.
func plotTime(ms []StepMetrics) (*plot.Plot, error) {
	series := []struct {
		name string
		get  func(StepMetrics) float64
	}{
		{"step", func(m StepMetrics) float64 { return m.StepMs }},
		{"data wait", func(m StepMetrics) float64 { return m.DataWaitMs }},
		{"forward", func(m StepMetrics) float64 { return m.ForwardMs }},
		{"backward", func(m StepMetrics) float64 { return m.BackwardMs }},
		{"optimizer", func(m StepMetrics) float64 { return m.OptimizerMs }},
	}
	p := plot.New()
	p.Title.Text = "Time per step"
	p.X.Label.Text = "step"
	p.X.Tick.Marker = plotStepTicks{}
	p.Y.Label.Text = "milliseconds"
	p.Add(plotter.NewGrid())
	top := 0.0
	for i, s := range series {
		var xys plotter.XYs
		nonzero := false
		for _, m := range ms {
			if v := s.get(m); plotFinite(v) {
				xys = append(xys, plotter.XY{X: float64(m.Step), Y: v})
				nonzero = nonzero || v != 0
			}
		}
		if !nonzero && i > 0 { // always keep the step time, even if all zero
			continue
		}
		if len(xys) == 0 {
			continue
		}
		if err := plotAddSeries(p, xys, plotutil.Color(i), s.name); err != nil {
			return nil, err
		}
		top = max(top, plotMax(xys))
	}
	// Time starts at zero; the headroom keeps the legend off the lines.
	p.Y.Min, p.Y.Max = 0, 1.4*top
	p.Legend.Top = true
	return p, nil
}

// plotMaxPoints bounds the points drawn per series. Rendering cost grows
// with the points (about 0.2 ms each), and a 10-inch PNG cannot show more
// than a few per pixel column anyway.
const plotMaxPoints = 2000

// plotAddSeries adds xys as a line with a legend entry. A long series is
// drawn as the mean over consecutive windows of steps, with the minimum and
// maximum of each window as a faint band, so spikes stay visible; the title
// says so.
func plotAddSeries(p *plot.Plot, xys plotter.XYs, c color.Color, name string) error {
	if n := len(xys); n > plotMaxPoints {
		win := (n + plotMaxPoints/2 - 1) / (plotMaxPoints / 2)
		var mean, band plotter.XYs
		var hi []plotter.XY
		for lo := 0; lo < n; lo += win {
			w := xys[lo:min(lo+win, n)]
			var sx, sy float64
			ymin, ymax := math.Inf(1), math.Inf(-1)
			for _, xy := range w {
				sx, sy = sx+xy.X, sy+xy.Y
				ymin, ymax = min(ymin, xy.Y), max(ymax, xy.Y)
			}
			x := sx / float64(len(w))
			mean = append(mean, plotter.XY{X: x, Y: sy / float64(len(w))})
			band = append(band, plotter.XY{X: x, Y: ymin})
			hi = append(hi, plotter.XY{X: x, Y: ymax})
		}
		slices.Reverse(hi)
		poly, err := plotter.NewPolygon(append(band, hi...))
		if err != nil {
			return err
		}
		r, g, b, _ := c.RGBA()
		poly.Color = color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: 60}
		poly.LineStyle.Width = 0
		p.Add(poly)
		xys = mean
		if !strings.Contains(p.Title.Text, "means over") {
			p.Title.Text = fmt.Sprintf("%s (means over %d steps, bands min to max)", p.Title.Text, win)
		}
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	l.Color = c
	p.Add(l)
	p.Legend.Add(name, l)
	if len(xys) == 1 { // a one-point line draws nothing
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return err
		}
		s.Color = c
		p.Add(s)
	}
	return nil
}

// plotStepTicks labels step numbers as integers: the default labels give
// every tick the same number of decimals, so steps read "25000.00".
type plotStepTicks struct{}

func (plotStepTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', -1, 64)
		}
	}
	return ts
}

func plotMax(xys plotter.XYs) float64 {
	m := math.Inf(-1)
	for _, xy := range xys {
		m = max(m, xy.Y)
	}
	return m
}

// plotSavePNG renders p and replaces path atomically.
func plotSavePNG(p *plot.Plot, path string) error {
	wt, err := p.WriterTo(plotW, plotH, "png")
	if err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return plotWriteAtomic(path, buf.Bytes())
}

// plotWriteAtomic writes data to a temporary file next to path and renames it
// over path (rename is atomic within a directory on POSIX file systems).
func plotWriteAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	err = errors.Join(err, f.Close())
	if err == nil {
		err = os.Chmod(tmp, 0o644) // CreateTemp makes it 0600
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}
