package trainer

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"

	"github.com/fdsm-go/fdsm/tensor"
)

// gridPad is the padding in pixels around and between the images of a grid
// (torchvision's make_grid default), filled with black.
const gridPad = 2

// WriteGrid writes the images of x as one PNG grid with cols columns (0 or
// less: ⌈√n⌉) and a 2-pixel black padding. x is [n, C, H, W] with C = 1
// (grey) or 3 (RGB), or [n, d] with d a perfect square (grey √d×√d images,
// e.g. flattened MNIST). Values are clamped to [0, 1] and mapped to
// ⌊255·v + ½⌋. The file is written atomically: a temporary file in the same
// directory, synced, then renamed over path.
func WriteGrid(path string, x *tensor.Tensor, cols int) error {
	n, c, h, w, err := gridLayout(x.Shape())
	if err != nil {
		return err
	}
	if cols <= 0 {
		cols = int(math.Ceil(math.Sqrt(float64(n))))
	}
	cols = min(cols, n)
	rows := (n + cols - 1) / cols
	width, height := cols*(w+gridPad)+gridPad, rows*(h+gridPad)+gridPad
	vals := x.ToFloat64s() // works for device tensors too

	var img image.Image
	if c == 1 {
		g := image.NewGray(image.Rect(0, 0, width, height))
		gridEach(n, cols, h, w, func(k, y, xx, py, px int) {
			g.SetGray(px, py, color.Gray{Y: toByte(vals[(k*h+y)*w+xx])})
		})
		img = g
	} else {
		rgb := image.NewNRGBA(image.Rect(0, 0, width, height))
		for i := 3; i < len(rgb.Pix); i += 4 {
			rgb.Pix[i] = 255 // opaque padding
		}
		plane := h * w
		gridEach(n, cols, h, w, func(k, y, xx, py, px int) {
			base := k*3*plane + y*w + xx
			rgb.SetNRGBA(px, py, color.NRGBA{
				R: toByte(vals[base]), G: toByte(vals[base+plane]), B: toByte(vals[base+2*plane]), A: 255,
			})
		})
		img = rgb
	}
	return writePNGAtomic(path, img)
}

// gridLayout validates the shape of a batch of images and returns its
// count, channels, height and width.
func gridLayout(s tensor.Shape) (n, c, h, w int, err error) {
	switch {
	case len(s) == 4 && (s[1] == 1 || s[1] == 3) && s[0] > 0 && s[2] > 0 && s[3] > 0:
		return s[0], s[1], s[2], s[3], nil
	case len(s) == 2 && s[0] > 0 && s[1] > 0:
		r := int(math.Round(math.Sqrt(float64(s[1]))))
		if r*r == s[1] {
			return s[0], 1, r, r, nil
		}
	}
	return 0, 0, 0, 0, fmt.Errorf("trainer: cannot write image grid of shape %v: want [n, C, H, W] with C 1 or 3, or [n, d] with d a perfect square", s)
}

// gridEach calls f for every pixel (y, xx) of every image k with its
// position (py, px) in the grid.
func gridEach(n, cols, h, w int, f func(k, y, xx, py, px int)) {
	for k := range n {
		oy := gridPad + (k/cols)*(h+gridPad)
		ox := gridPad + (k%cols)*(w+gridPad)
		for y := range h {
			for xx := range w {
				f(k, y, xx, oy+y, ox+xx)
			}
		}
	}
}

// toByte maps [0, 1] to 0..255, clamping; NaN becomes 0.
func toByte(v float64) uint8 {
	if !(v > 0) {
		return 0
	}
	if v >= 1 {
		return 255
	}
	return uint8(math.Floor(255*v + 0.5))
}

// writePNGAtomic encodes img into a temporary file next to path and renames
// it into place, so readers never see a partial image.
func writePNGAtomic(path string, img image.Image) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("trainer: writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(0o644); err != nil { // CreateTemp makes 0600 files
		return fmt.Errorf("trainer: writing %s: %w", path, err)
	}
	if err = png.Encode(f, img); err != nil {
		return fmt.Errorf("trainer: encoding %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("trainer: writing %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("trainer: writing %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("trainer: writing %s: %w", path, err)
	}
	return nil
}
