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
	Timing string       `json:"timing"`
	Rows   []ControlRow `json:"rows"`
}

func (r ControlResult) String() string {
	return fmt.Sprintf("control plane, %s timing, all members on this host (seconds until every member saw it):\n%s", r.Timing, ControlTable(r.Rows))
}

// ControlPlot draws the four phases' times against members (log2 axis) as
// a PNG at path.
func ControlPlot(r ControlResult, path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("control plane (%s timing, one host)", r.Timing)
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
