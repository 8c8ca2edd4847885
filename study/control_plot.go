package study

import (
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// ControlResult is what `fdsm study control` prints: the timing profile
// studied and a row per job size.
type ControlResult struct {
	Timing string `json:"timing"`
	// Dilation is ControlOptions.Dilation: the rows' seconds are the
	// measured ones divided by it (1: none).
	Dilation float64      `json:"dilation"`
	Rows     []ControlRow `json:"rows"`
}

// timingLabel names the timing, and the dilation when there is one.
func (r ControlResult) timingLabel() string {
	if r.Dilation > 1 {
		return fmt.Sprintf("%s timing dilated %gx", r.Timing, r.Dilation)
	}
	return r.Timing + " timing"
}

func (r ControlResult) String() string {
	note := ""
	if r.Dilation > 1 {
		note = fmt.Sprintf(", measured seconds / %g", r.Dilation)
	}
	return fmt.Sprintf("control plane, %s, all members on this host (seconds until every member saw it%s):\n%s", r.timingLabel(), note, ControlTable(r.Rows))
}

// ControlPlot draws the four phases' times against members (log2 axis) as
// a PNG at path.
func ControlPlot(r ControlResult, path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("control plane (%s, one host)", r.timingLabel())
	p.X.Label.Text = "members"
	p.Y.Label.Text = "seconds until every member saw it"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = powerTicks{}
	for i, phase := range []struct {
		name string
		s    func(ControlRow) float64
	}{
		{"form (join)", func(c ControlRow) float64 { return c.FormS }},
		{"rendezvous", func(c ControlRow) float64 { return c.RendezvousS }},
		{"detect a crash", func(c ControlRow) float64 { return c.DetectS }},
		{"regroup", func(c ControlRow) float64 { return c.RegroupS }},
	} {
		var xy plotter.XYs
		for _, row := range r.Rows {
			xy = append(xy, plotter.XY{X: float64(row.Members), Y: phase.s(row)})
		}
		l, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			return fmt.Errorf("plot %s: %w", phase.name, err)
		}
		l.Color, pts.Color, pts.Shape = plotutil.Color(i), plotutil.Color(i), plotutil.Shape(i)
		p.Add(l, pts)
		p.Legend.Add(phase.name, l, pts)
	}
	p.Legend.Top, p.Legend.Left = true, true
	if err := p.Save(18*vg.Centimeter, 12*vg.Centimeter, path); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}
