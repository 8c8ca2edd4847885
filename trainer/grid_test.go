package trainer

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func grey(img image.Image, x, y int) uint8 {
	return color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y
}

// TestWriteGridGrey writes three 2×2 grey images in 2 columns: the grid is
// 2·(2+2)+2 = 10 pixels square; image k sits at (2 + (k%2)·4, 2 + (k/2)·4);
// padding and the empty fourth slot are black; values map to ⌊255v+½⌋
// after clamping to [0, 1].
func TestWriteGridGrey(t *testing.T) {
	be := tensor.DefaultCPU()
	vals := []float64{
		0, 0.5, 1, -0.5, // image 0: 0, 128, 255, 0 (clamped)
		1.5, 0.25, 0.75, 0.1, // image 1: 255 (clamped), 64, 191, 26
		0.2, 0.4, 0.6, 0.8, // image 2: 51, 102, 153, 204
	}
	want := [][]uint8{{0, 128, 255, 0}, {255, 64, 191, 26}, {51, 102, 153, 204}}
	x := upload(be, tensor.Float32, vals, 3, 1, 2, 2)
	path := filepath.Join(t.TempDir(), "grid.png")
	if err := WriteGrid(path, x, 2); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, path)
	if b := img.Bounds(); b.Dx() != 10 || b.Dy() != 10 {
		t.Fatalf("size %v, want 10×10", b)
	}
	inside := map[[2]int]bool{}
	for k, w := range want {
		ox, oy := 2+(k%2)*4, 2+(k/2)*4
		for i, v := range w {
			px, py := ox+i%2, oy+i/2
			inside[[2]int{px, py}] = true
			if got := grey(img, px, py); got != v {
				t.Errorf("image %d pixel %d at (%d,%d) = %d, want %d", k, i, px, py, got, v)
			}
		}
	}
	for y := range 10 {
		for x := range 10 {
			if !inside[[2]int{x, y}] && grey(img, x, y) != 0 {
				t.Errorf("padding pixel (%d,%d) = %d, want 0", x, y, grey(img, x, y))
			}
		}
	}
	// Atomic write: only the final file remains.
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only grid.png", len(ents))
	}
}

// TestWriteGridRGBAndFlat checks an RGB batch (channel planes to R, G, B)
// with the default ⌈√n⌉ columns, and a flat [n, 9] batch drawn as 3×3.
func TestWriteGridRGBAndFlat(t *testing.T) {
	be := tensor.DefaultCPU()
	dir := t.TempDir()
	// two 1×2 RGB images: planes R, G, B of 2 pixels each
	x := upload(be, tensor.Float64, []float64{1, 0, 0, 1, 0.2, 0.4, 0, 0, 0, 0, 1, 1}, 2, 3, 1, 2)
	path := filepath.Join(dir, "rgb.png")
	if err := WriteGrid(path, x, 0); err != nil {
		t.Fatal(err)
	}
	img := decodePNG(t, path)
	if b := img.Bounds(); b.Dx() != 2*(2+2)+2 || b.Dy() != 1+2+2 {
		t.Fatalf("size %v, want 10×5", b)
	}
	check := func(px, py int, want color.NRGBA) {
		if got := color.NRGBAModel.Convert(img.At(px, py)).(color.NRGBA); got != want {
			t.Errorf("pixel (%d,%d) = %v, want %v", px, py, got, want)
		}
	}
	check(2, 2, color.NRGBA{255, 0, 51, 255})
	check(3, 2, color.NRGBA{0, 255, 102, 255})
	check(6, 2, color.NRGBA{0, 0, 255, 255})
	check(7, 2, color.NRGBA{0, 0, 255, 255})
	check(0, 0, color.NRGBA{0, 0, 0, 255})

	flat := make([]float64, 2*9)
	flat[4] = 1 // centre of the first image
	path = filepath.Join(dir, "flat.png")
	if err := WriteGrid(path, upload(be, tensor.Float64, flat, 2, 9), 1); err != nil {
		t.Fatal(err)
	}
	img = decodePNG(t, path)
	if b := img.Bounds(); b.Dx() != 3+4 || b.Dy() != 2*(3+2)+2 {
		t.Fatalf("flat size %v, want 7×12", b)
	}
	if grey(img, 3, 3) != 255 || grey(img, 2, 2) != 0 || grey(img, 3, 8) != 0 {
		t.Error("flat [n, 9] not drawn as 3×3 images")
	}
}

func TestWriteGridBadShapes(t *testing.T) {
	be := tensor.DefaultCPU()
	dir := t.TempDir()
	for _, shape := range [][]int{{2, 2, 3, 3}, {2, 10}, {5}, {0, 1, 2, 2}, {2, 1, 3}} {
		x := be.Zeros(tensor.Float32, shape...)
		err := WriteGrid(filepath.Join(dir, "bad.png"), x, 0)
		if err == nil || !strings.Contains(err.Error(), tensor.Shape(shape).String()) {
			t.Errorf("shape %v: error %v, want one naming the shape", shape, err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("bad shapes left %d files", len(ents))
	}
	x := be.Zeros(tensor.Float32, 1, 4)
	if err := WriteGrid(filepath.Join(dir, "missing", "g.png"), x, 0); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}

// TestSamplersOnRealModels smoke-tests both samplers through real models
// (gradients through an MLP energy; *models.NCSN's Sigmas) on a few steps,
// and WriteGrid on the images they produce.
func TestSamplersOnRealModels(t *testing.T) {
	be := tensor.DefaultCPU()
	build := func(text string) models.Model {
		spec, err := models.ParseSpec([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		m, err := models.Build(spec, be, tensor.Float32, 1)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	mlp := build(`{"kind": "mlp", "input_dim": 16, "hidden": [8]}`).(models.Energy)
	x, err := SampleLangevin(mlp, 3, be, tensor.Float32, tensor.NewRNG(1), DefaultLangevinOptions().Scaled(0.005))
	if err != nil {
		t.Fatal(err)
	}
	if !x.Shape().Equal(tensor.Shape{3, 16}) {
		t.Errorf("mlp samples %v, want [3 16]", x.Shape())
	}
	dir := t.TempDir()
	if err := WriteGrid(dir+"/mlp.png", x, 0); err != nil {
		t.Error(err)
	}
	ncsn := build(`{"kind": "ncsn", "channels": 3, "image_size": 4, "ngf": 2, "num_levels": 3}`).(models.Score)
	y, err := SampleAnnealed(ncsn, 2, be, tensor.Float32, tensor.NewRNG(2), AnnealedOptions{StepsPerLevel: 2, Denoise: true})
	if err != nil {
		t.Fatal(err)
	}
	if !y.Shape().Equal(tensor.Shape{2, 3, 4, 4}) {
		t.Errorf("ncsn samples %v, want [2 3 4 4]", y.Shape())
	}
	if err := WriteGrid(dir+"/ncsn.png", y, 0); err != nil {
		t.Error(err)
	}
}

func TestWriteScatter(t *testing.T) {
	be := tensor.DefaultCPU()
	x := tensor.FromFloat64s(be, tensor.Float64, tensor.Shape{3, 2}, []float64{0, 0, 1, 1, -1, 2})
	path := filepath.Join(t.TempDir(), "s.png")
	if err := WriteScatter(path, x); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatal(err)
	}
	if err := WriteScatter(path, x.Reshape(6)); err == nil {
		t.Error("rank-1 input accepted")
	}
}
