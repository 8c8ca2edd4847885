package data

// Decoding JPEGs for the shard loader: scaled decoding (the DCT scaling of
// 1/2, 1/4 or 1/8 when the output is that much smaller), then a small
// antialiased resize and centre crop straight into the caller's memory.

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"slices"
)

// jpegCodec decodes one JPEG reduced by a power of two into interleaved
// RGB. Implementations keep native state, so each is for one goroutine.
type jpegCodec interface {
	// decode decodes buf reduced by 1/f (f in 1, 2, 4, 8, the largest that
	// keeps the shorter side >= minSide), into rgb (grown as needed), and
	// returns the pixels and their size.
	decode(buf []byte, minSide int, rgb []byte) ([]byte, int, int, error)
	close()
}

// JPEGDecoders names the decoders of this build, best first: "libjpeg-turbo"
// when built with cgo and the turbojpeg tag (make does so when the headers
// are installed), and always "go" (image/jpeg).
func JPEGDecoders() []string {
	if turboAvailable {
		return []string{"libjpeg-turbo", "go"}
	}
	return []string{"go"}
}

// JPEGDecoder decodes JPEGs (and, through package image, PNGs) into CHW
// float32 in [0, 1] of the size Options say, reusing its buffers.
//
// Threading: one goroutine at a time; make one per decoding goroutine.
type JPEGDecoder struct {
	name  string
	opt   ImageFolderOptions
	codec jpegCodec
	rgb   []byte
	rs    resizer
}

// NewJPEGDecoder returns the decoder name ("" for the best this build has)
// for images of o.Size, o.Channels and o.Resize.
func NewJPEGDecoder(name string, o ImageFolderOptions) (*JPEGDecoder, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if name == "" {
		name = JPEGDecoders()[0]
	}
	d := &JPEGDecoder{name: name, opt: o}
	switch {
	case name == "go":
		d.codec = goJPEG{}
	case name == "libjpeg-turbo" && turboAvailable:
		if d.codec, err = newTurboJPEG(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("jpeg decoder %q is not in this build (have %v)", name, JPEGDecoders())
	}
	return d, nil
}

// Name is the decoder's name.
func (d *JPEGDecoder) Name() string { return d.name }

// Close frees the native decoder, if any.
func (d *JPEGDecoder) Close() { d.codec.close() }

// Decode decodes buf (a JPEG, or any format package image knows) into dst
// (len Channels·Size·Size).
func (d *JPEGDecoder) Decode(buf []byte, dst []float32) error {
	o := d.opt
	if want := o.Channels * o.Size * o.Size; len(dst) != want {
		return fmt.Errorf("destination of %d values for an image of %d", len(dst), want)
	}
	if !isJPEG(buf) {
		img, _, err := image.Decode(bytes.NewReader(buf))
		if err != nil {
			return err
		}
		renderSquare(img, o, dst)
		return nil
	}
	rgb, w, h, err := d.codec.decode(buf, o.Size, d.rgb)
	if err != nil {
		return err
	}
	d.rgb = rgb
	d.rs.render(rgb, w, h, o, dst)
	return nil
}

func isJPEG(buf []byte) bool {
	return len(buf) >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff
}

// reduction is the largest f in 8, 4, 2, 1 with min(w, h)/f >= side: the DCT
// scaling that still leaves the resize something to shrink from.
func reduction(w, h, side int) int {
	for f := 8; f > 1; f /= 2 {
		if min(w, h)/f >= side {
			return f
		}
	}
	return 1
}

// checkJPEGSize rejects empty and oversized images before decoding.
func checkJPEGSize(w, h int) error {
	if w <= 0 || h <= 0 || int64(w)*int64(h) > maxImagePixels {
		return fmt.Errorf("JPEG of %dx%d pixels is empty or larger than %d pixels", w, h, maxImagePixels)
	}
	return nil
}

// goJPEG is image/jpeg, which has no scaled decoding: it decodes in full and
// then averages f×f blocks, which costs a little more than the decode.
type goJPEG struct{}

func (goJPEG) close() {}

func (goJPEG) decode(buf []byte, minSide int, rgb []byte) ([]byte, int, int, error) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(buf))
	if err != nil {
		return rgb, 0, 0, err
	}
	if err := checkJPEGSize(cfg.Width, cfg.Height); err != nil {
		return rgb, 0, 0, err
	}
	img, err := jpeg.Decode(bytes.NewReader(buf))
	if err != nil {
		return rgb, 0, 0, err
	}
	b := img.Bounds()
	f := reduction(b.Dx(), b.Dy(), minSide)
	w, h := b.Dx()/f, b.Dy()/f
	rgb = slices.Grow(rgb[:0], 3*w*h)[:3*w*h]
	switch m := img.(type) {
	case *image.YCbCr:
		reduceYCbCr(m, f, w, h, rgb)
	case *image.Gray:
		reduceGray(m, f, w, h, rgb)
	default: // CMYK: rare, so the generic path
		for y := range h {
			for x := range w {
				r, g, bl, _ := m.At(b.Min.X+x*f, b.Min.Y+y*f).RGBA()
				rgb[3*(y*w+x)], rgb[3*(y*w+x)+1], rgb[3*(y*w+x)+2] = uint8(r>>8), uint8(g>>8), uint8(bl>>8)
			}
		}
	}
	return rgb, w, h, nil
}

// reduceYCbCr averages the luma of each f×f block, takes the chroma at the
// block's centre, and converts to RGB.
func reduceYCbCr(m *image.YCbCr, f, w, h int, rgb []byte) {
	b := m.Rect
	for y := range h {
		for x := range w {
			x0, y0 := b.Min.X+x*f, b.Min.Y+y*f
			sum := 0
			for dy := range f {
				row := m.Y[m.YOffset(x0, y0+dy):]
				for dx := range f {
					sum += int(row[dx])
				}
			}
			c := m.COffset(x0+f/2, y0+f/2)
			r, g, bl := color.YCbCrToRGB(uint8((sum+f*f/2)/(f*f)), m.Cb[c], m.Cr[c])
			o := 3 * (y*w + x)
			rgb[o], rgb[o+1], rgb[o+2] = r, g, bl
		}
	}
}

func reduceGray(m *image.Gray, f, w, h int, rgb []byte) {
	for y := range h {
		for x := range w {
			sum := 0
			for dy := range f {
				row := m.Pix[(y*f+dy)*m.Stride+x*f:]
				for dx := range f {
					sum += int(row[dx])
				}
			}
			v := uint8((sum + f*f/2) / (f * f))
			o := 3 * (y*w + x)
			rgb[o], rgb[o+1], rgb[o+2] = v, v, v
		}
	}
}
