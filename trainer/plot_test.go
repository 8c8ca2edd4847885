package trainer

import (
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// plotCheckPNGs decodes both plots in dir and checks they have pixels.
func plotCheckPNGs(t *testing.T, dir string) {
	t.Helper()
	for _, name := range []string{LossPlotFile, TimePlotFile} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b := img.Bounds(); b.Dx() <= 0 || b.Dy() <= 0 {
			t.Errorf("%s: empty image %v", name, b)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

func TestPlotRun(t *testing.T) {
	series := func(n int, loss func(i int) float64) []StepMetrics {
		ms := make([]StepMetrics, n)
		for i := range ms {
			ms[i] = metricsSample(i+1, loss(i))
			ms[i].StepMs = 10 + float64(i%7)
		}
		return ms
	}
	normal := series(300, func(i int) float64 { return 1e4 * math.Exp(-float64(i)/30) }) // log scale
	normal[40].Skipped, normal[40].Loss = true, math.NaN()
	normal[41].Skipped = true
	negative := series(50, func(i int) float64 { return -float64(i) - 0.5 }) // FD-SM losses go negative
	negative[3].Skipped, negative[3].Loss = true, math.Inf(-1)
	allSkipped := series(3, func(int) float64 { return math.NaN() })
	for i := range allSkipped {
		allSkipped[i].Skipped = true
	}
	noTiming := []StepMetrics{{Step: 1, Loss: 1}, {Step: 2, Loss: 0.5}}
	cases := map[string][]StepMetrics{
		"normal":      normal,
		"constant":    series(20, func(int) float64 { return 3 }),
		"negative":    negative,
		"single":      series(1, func(int) float64 { return 0.25 }),
		"all-skipped": allSkipped,
		"no-timing":   noTiming,
		"resumed":     append(series(10, func(i int) float64 { return 1 / float64(i+1) }), series(5, func(int) float64 { return 2 })...),
	}
	for name, ms := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "plots") // PlotRun creates it
			if err := PlotRun(ms, dir); err != nil {
				t.Fatal(err)
			}
			plotCheckPNGs(t, dir)
			// Again over the existing files: the rename replaces them.
			if err := PlotRun(ms, dir); err != nil {
				t.Fatal(err)
			}
			plotCheckPNGs(t, dir)
		})
	}
}

func TestPlotRunErrors(t *testing.T) {
	if err := PlotRun(nil, t.TempDir()); err == nil || !strings.Contains(err.Error(), "no metrics") {
		t.Errorf("empty metrics: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if err := PlotRun([]StepMetrics{{Step: 1, Loss: 1}}, file); err == nil {
		t.Error("dir is a file: no error")
	}
}
