package data

import (
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// writeImage encodes m as PNG or JPEG (by extension) at path.
func writeImage(t testing.TB, path string, m image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if ext := strings.ToLower(filepath.Ext(path)); ext == ".png" {
		err = png.Encode(f, m)
	} else {
		err = jpeg.Encode(f, m, &jpeg.Options{Quality: 95})
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func solid(w, h int, c color.RGBA) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(m.Pix); i += 4 {
		m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return m
}

// thirds is black outside the middle third (columns, or rows when vertical)
// and white inside it.
func thirds(w, h int, vertical bool) *image.RGBA {
	m := solid(w, h, color.RGBA{0, 0, 0, 255})
	for y := range h {
		for x := range w {
			if (!vertical && x >= w/3 && x < 2*w/3) || (vertical && y >= h/3 && y < 2*h/3) {
				m.SetRGBA(x, y, color.RGBA{255, 255, 255, 255})
			}
		}
	}
	return m
}

func getAll(t *testing.T, f *ImageFolder) ([][]float32, []int) {
	t.Helper()
	var vals [][]float32
	var labels []int
	for i := range f.Len() {
		dst := make([]float32, Numel(f))
		l, err := f.Get(i, dst)
		if err != nil {
			t.Fatalf("Get(%d): %v", i, err)
		}
		for j, v := range dst {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("image %d value %d = %v outside [0,1]", i, j, v)
			}
		}
		vals, labels = append(vals, dst), append(labels, l)
	}
	return vals, labels
}

func TestImageFolderUnlabelled(t *testing.T) {
	root := t.TempDir()
	red := color.RGBA{200, 100, 50, 255}
	writeImage(t, filepath.Join(root, "b.png"), solid(40, 20, red))
	writeImage(t, filepath.Join(root, "a.jpg"), solid(20, 50, red))
	writeImage(t, filepath.Join(root, "c.JPEG"), solid(16, 16, red))
	writeImage(t, filepath.Join(root, ".hidden.png"), solid(8, 8, red))
	os.WriteFile(filepath.Join(root, "notes.txt"), []byte("not an image"), 0o644)

	f, err := OpenImageFolder(root, ImageFolderOptions{Size: 16})
	if err != nil {
		t.Fatal(err)
	}
	if f.Len() != 3 || !reflect.DeepEqual(f.Shape(), []int{3, 16, 16}) || f.Classes() != nil {
		t.Fatalf("len %d shape %v classes %v", f.Len(), f.Shape(), f.Classes())
	}
	for i, want := range []string{"a.jpg", "b.png", "c.JPEG"} {
		if filepath.Base(f.Path(i)) != want {
			t.Errorf("file %d = %s, want %s", i, f.Path(i), want)
		}
	}
	vals, labels := getAll(t, f)
	for i, v := range vals {
		if labels[i] != -1 {
			t.Errorf("label %d = %d, want -1", i, labels[i])
		}
		tol := 0.0 // PNG is lossless
		if i != 1 {
			tol = 3.0 / 255 // JPEG quantisation and chroma rounding
		}
		for c, want := range []uint8{red.R, red.G, red.B} {
			for _, x := range v[c*256 : (c+1)*256] {
				if math.Abs(float64(x-float32(want)/255)) > tol {
					t.Fatalf("%s channel %d: %v, want %v", f.Path(i), c, x*255, want)
				}
			}
		}
	}
}

func TestImageFolderClasses(t *testing.T) {
	root := t.TempDir()
	px := solid(12, 9, color.RGBA{10, 20, 30, 255})
	writeImage(t, filepath.Join(root, "dog", "z.png"), px)
	writeImage(t, filepath.Join(root, "cat", "y.jpg"), px)
	writeImage(t, filepath.Join(root, "cat", "x.png"), px)
	writeImage(t, filepath.Join(root, "ant", "nested", "w.png"), px)

	f, err := OpenImageFolder(root, ImageFolderOptions{Size: 4, Resize: "crop"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ant", "cat", "dog"}; !reflect.DeepEqual(f.Classes(), want) {
		t.Fatalf("classes %v, want %v", f.Classes(), want)
	}
	_, labels := getAll(t, f)
	if want := []int{0, 1, 1, 2}; !reflect.DeepEqual(labels, want) {
		t.Fatalf("labels %v, want %v", labels, want)
	}
	g, err := OpenImageFolder(root, ImageFolderOptions{Size: 4})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.files, g.files) || filepath.Base(f.Path(1)) != "x.png" {
		t.Fatalf("order not deterministic: %v vs %v", f.files, g.files)
	}
}

func TestImageFolderCentreCrop(t *testing.T) {
	const s = 9
	for _, mode := range []string{"shorter-side", "crop"} {
		for _, vertical := range []bool{false, true} {
			w, h := 90, 30
			if vertical {
				w, h = h, w
			}
			path := filepath.Join(t.TempDir(), "thirds.png")
			writeImage(t, path, thirds(w, h, vertical))
			dst := make([]float32, 3*s*s)
			if err := DecodeImageFile(path, ImageFolderOptions{Size: s, Resize: mode}, dst); err != nil {
				t.Fatal(err)
			}
			// The middle of the crop is the image's white centre; "crop"
			// never sees the black thirds, "shorter-side" may blend them
			// into the border pixels only.
			for y := range s {
				for x := range s {
					border := x == 0 || y == 0 || x == s-1 || y == s-1
					if v := dst[y*s+x]; v != 1 && (mode == "crop" || !border) {
						t.Fatalf("%s vertical=%v: pixel (%d,%d) = %v, want white", mode, vertical, x, y, v)
					}
				}
			}
		}
	}
}

// hide strips an image's concrete type so the scaler takes its generic path.
type hide struct{ image.Image }

func TestImageTypesConvert(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const w, h = 23, 17
	rgba := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range rgba.Pix {
		rgba.Pix[i] = uint8(rng.IntN(256))
		if i%4 == 3 {
			rgba.Pix[i] = 255
		}
	}
	nrgba := image.NewNRGBA(rgba.Rect)
	gray := image.NewGray(rgba.Rect)
	gray16 := image.NewGray16(rgba.Rect)
	pal := image.NewPaletted(rgba.Rect, color.Palette{color.Black, color.White, color.RGBA{200, 100, 50, 255}})
	ycc := image.NewYCbCr(rgba.Rect, image.YCbCrSubsampleRatio420)
	cmyk := image.NewCMYK(rgba.Rect)
	for y := range h {
		for x := range w {
			c := rgba.At(x, y)
			nrgba.Set(x, y, c)
			gray.Set(x, y, c)
			gray16.Set(x, y, c)
			pal.SetColorIndex(x, y, uint8((x+y)%3))
			cmyk.Set(x, y, c)
			r, g, b, _ := c.RGBA()
			yy, cb, cr := color.RGBToYCbCr(uint8(r>>8), uint8(g>>8), uint8(b>>8))
			ycc.Y[ycc.YOffset(x, y)], ycc.Cb[ycc.COffset(x, y)], ycc.Cr[ycc.COffset(x, y)] = yy, cb, cr
		}
	}
	for _, o := range []ImageFolderOptions{{Size: 8}, {Size: 8, Resize: "crop"}, {Size: 17}, {Size: 30, Channels: 1}} {
		o, _ = o.withDefaults()
		for _, m := range []image.Image{rgba, nrgba, gray, gray16, pal, ycc, cmyk} {
			fast := make([]float32, o.Channels*o.Size*o.Size)
			slow := make([]float32, len(fast))
			renderSquare(m, o, fast)
			renderSquare(hide{m}, o, slow)
			for i := range fast {
				if math.Abs(float64(fast[i]-slow[i])) > 1.5/255 {
					t.Fatalf("%T %+v value %d: fast %v generic %v", m, o, i, fast[i]*255, slow[i]*255)
				}
			}
		}
	}
	// Grey images are exactly grey in both channel modes.
	g := &image.Gray{Pix: []uint8{0, 77, 128, 255}, Stride: 2, Rect: image.Rect(0, 0, 2, 2)}
	for _, ch := range []int{1, 3} {
		dst := make([]float32, ch*4)
		renderSquare(g, ImageFolderOptions{Size: 2, Channels: ch}, dst)
		for i, v := range dst {
			if v != float32(g.Pix[i%4])/255 {
				t.Fatalf("channels %d grey value %d = %v, want %v", ch, i, v*255, g.Pix[i%4])
			}
		}
	}
}

func TestImageFolderGrayscale(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.png")
	c := color.RGBA{200, 100, 50, 255}
	writeImage(t, path, solid(20, 13, c))
	dst := make([]float32, 5*5)
	if err := DecodeImageFile(path, ImageFolderOptions{Size: 5, Channels: 1}, dst); err != nil {
		t.Fatal(err)
	}
	want := float64(color.GrayModel.Convert(c).(color.Gray).Y) / 255
	for _, v := range dst {
		if math.Abs(float64(v)-want) > 1.0/255 {
			t.Fatalf("grey %v, want %v", v*255, want*255)
		}
	}
	if err := DecodeImageFile(path, ImageFolderOptions{Size: 5, Channels: 3}, dst); err == nil {
		t.Fatal("short destination accepted")
	}
}

func TestImageFolderCorrupt(t *testing.T) {
	root := t.TempDir()
	writeImage(t, filepath.Join(root, "a_good.png"), solid(10, 10, color.RGBA{1, 2, 3, 255}))
	rnd := make([]byte, 500)
	for i := range rnd {
		rnd[i] = byte(i*7 + 3)
	}
	os.WriteFile(filepath.Join(root, "b_random.jpg"), rnd, 0o644)
	for _, name := range []string{"c_trunc.png", "d_trunc.jpg"} {
		p := filepath.Join(root, name)
		m := thirds(64, 48, false)
		for i := range m.Pix { // noise, so that pixel data dominates the headers
			m.Pix[i] ^= byte(i * i % 251)
		}
		writeImage(t, p, m)
		b, _ := os.ReadFile(p)
		os.WriteFile(p, b[:len(b)/2], 0o644)
	}
	bads := []string{"b_random.jpg", "c_trunc.png", "d_trunc.jpg"}

	f, err := OpenImageFolder(root, ImageFolderOptions{Size: 8, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, Numel(f))
	for i, name := range bads {
		if _, err := f.Get(i+1, dst); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Get(%s) error %v does not name the file", name, err)
		}
	}
	if _, err := f.Get(4, dst); err == nil {
		t.Error("Get out of range accepted")
	}
	calls, last := 0, 0
	bad, err := f.Validate(context.Background(), func(done, total int) { calls, last = calls+1, done })
	if err == nil || !strings.Contains(err.Error(), "3 of 4") || len(bad) != 3 || calls != 4 || last != 4 {
		t.Fatalf("Validate: bad %v err %v progress calls %d last %d", bad, err, calls, last)
	}
	for i, name := range bads {
		if !strings.Contains(err.Error(), name) || filepath.Base(bad[i]) != name {
			t.Errorf("Validate does not name %s: %v %v", name, bad, err)
		}
	}
	t.Log(err)
	if f.Len() != 4 {
		t.Fatalf("failed Validate changed the index to %d", f.Len())
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f.opt.SkipCorrupt = true
	if _, err := f.Validate(ctx, nil); err == nil || f.Len() != 4 {
		t.Fatalf("cancelled Validate: err %v len %d", err, f.Len())
	}
	bad, err = f.Validate(context.Background(), nil)
	if err != nil || len(bad) != 3 || f.Len() != 1 || f.Skipped() != 3 {
		t.Fatalf("SkipCorrupt: bad %v err %v len %d skipped %d", bad, err, f.Len(), f.Skipped())
	}
	if _, err := f.Get(0, dst); err != nil {
		t.Fatal(err)
	}
}

func TestImageFolderBadLayout(t *testing.T) {
	img := solid(4, 4, color.RGBA{A: 255})
	empty := t.TempDir()
	textOnly := t.TempDir()
	os.WriteFile(filepath.Join(textOnly, "a.txt"), []byte("x"), 0o644)
	mixed := t.TempDir()
	writeImage(t, filepath.Join(mixed, "a.png"), img)
	writeImage(t, filepath.Join(mixed, "cls", "b.png"), img)
	emptyClass := t.TempDir()
	writeImage(t, filepath.Join(emptyClass, "cls", "b.png"), img)
	os.Mkdir(filepath.Join(emptyClass, "none"), 0o755)
	for name, root := range map[string]string{"empty": empty, "text only": textOnly, "mixed": mixed,
		"empty class": emptyClass, "missing": filepath.Join(empty, "nope")} {
		if _, err := OpenImageFolder(root, ImageFolderOptions{}); err == nil {
			t.Errorf("%s folder accepted", name)
		} else if !strings.Contains(err.Error(), root) {
			t.Errorf("%s folder: error %v does not name it", name, err)
		}
	}
	for _, o := range []ImageFolderOptions{{Size: -1}, {Channels: 2}, {Resize: "stretch"}} {
		if _, err := OpenImageFolder(mixed, o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}

func BenchmarkDecodeJPEG(b *testing.B) {
	dir := b.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	var paths []string
	for k := range 8 {
		m := image.NewRGBA(image.Rect(0, 0, 256, 256))
		for i := range m.Pix {
			// A gradient with noise compresses like a photograph.
			m.Pix[i] = uint8(i/4%256/2 + k*8 + rng.IntN(32))
		}
		p := filepath.Join(dir, "img"+string(rune('a'+k))+".jpg")
		writeImage(b, p, m)
		paths = append(paths, p)
	}
	o := ImageFolderOptions{Size: 64}
	dst := make([]float32, 3*64*64)
	for i := 0; b.Loop(); i++ {
		if err := DecodeImageFile(paths[i%len(paths)], o, dst); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
}
