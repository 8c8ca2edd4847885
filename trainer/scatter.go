package trainer

import (
	"fmt"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/fdsm-go/fdsm/tensor"
)

// WriteScatter draws 2-D samples x [n, 2] as a scatter plot PNG, written
// atomically: the picture for toy densities, where an image grid means
// nothing.
func WriteScatter(path string, x *tensor.Tensor) error {
	if x.Rank() != 2 || x.Dim(1) != 2 {
		return fmt.Errorf("trainer: scatter of shape %v: want [n 2]", x.Shape())
	}
	v := x.ToFloat64s()
	pts := make(plotter.XYs, x.Dim(0))
	for i := range pts {
		pts[i].X, pts[i].Y = v[2*i], v[2*i+1]
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%d samples", len(pts))
	s, err := plotter.NewScatter(pts)
	if err != nil {
		return err
	}
	s.GlyphStyle.Radius = vg.Points(1.5)
	p.Add(s)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".scatter-*.png")
	if err != nil {
		return err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if err := p.Save(5*vg.Inch, 5*vg.Inch, tmp.Name()); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
