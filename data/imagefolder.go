package data

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // registers the JPEG decoder with image.Decode
	_ "image/png"  // registers the PNG decoder with image.Decode
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/image/draw"
)

// maxImagePixels bounds the decoded size of one image (64 Mpx, about 400 MB
// as RGBA64) so that a hostile or broken header cannot exhaust memory; the
// largest ImageNet photographs are far below it.
const maxImagePixels = 1 << 26

// ImageFolderOptions configures OpenImageFolder and DecodeImageFile.
type ImageFolderOptions struct {
	// Size is the side S of the square output (default 32).
	Size int
	// Channels is 3 (RGB, default) or 1 (ITU-R 601 luma, as PIL's "L").
	Channels int
	// Resize is "shorter-side" (default: scale the shorter side to Size,
	// then centre-crop, as torchvision Resize+CenterCrop) or "crop"
	// (centre-crop the largest square, then scale it to Size).
	Resize string
	// SkipCorrupt makes Validate drop unreadable files instead of failing.
	SkipCorrupt bool
	// Workers is the number of parallel decoders in Validate (default
	// GOMAXPROCS).
	Workers int
}

// withDefaults fills zero fields and rejects invalid ones.
func (o ImageFolderOptions) withDefaults() (ImageFolderOptions, error) {
	if o.Size == 0 {
		o.Size = 32
	}
	if o.Channels == 0 {
		o.Channels = 3
	}
	if o.Resize == "" {
		o.Resize = "shorter-side"
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	switch {
	case o.Size < 0:
		return o, fmt.Errorf("image options: size %d must be positive", o.Size)
	case o.Channels != 1 && o.Channels != 3:
		return o, fmt.Errorf("image options: channels %d must be 1 or 3", o.Channels)
	case o.Resize != "shorter-side" && o.Resize != "crop":
		return o, fmt.Errorf("image options: resize %q must be \"shorter-side\" or \"crop\"", o.Resize)
	}
	return o, nil
}

// ImageFolder is a folder of JPEG/PNG images, either directly in the root
// (unlabelled, label -1) or in class subfolders (label = index of the
// subfolder in sorted order). Images are decoded on demand in Get, so a folder
// of any size streams with bounded memory.
//
// Threading: Get may be called concurrently; Validate must not run
// concurrently with Get because it may shrink the index.
type ImageFolder struct {
	name    string
	opt     ImageFolderOptions
	files   []string
	labels  []int // all -1 when unlabelled
	classes []string
	skipped int
}

// isImageFile reports whether name has a JPEG or PNG extension.
func isImageFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpg", ".jpeg", ".png":
		return true
	}
	return false
}

// OpenImageFolder indexes the images under root in a deterministic (sorted)
// order without decoding them. Images directly in root are unlabelled; each
// subfolder of root is a class whose images (searched recursively) get the
// subfolder's index among the sorted class names. Mixing both, a class folder
// without images and an index without images are errors. Hidden entries
// (".name") are ignored.
func OpenImageFolder(root string, o ImageFolderOptions) (*ImageFolder, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", root, err)
	}
	entries, err := os.ReadDir(root) // sorted by name
	if err != nil {
		return nil, fmt.Errorf("image folder: %w", err)
	}
	f := &ImageFolder{name: "imagefolder/" + filepath.Base(filepath.Clean(root)), opt: o}
	var rootFiles []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(root, e.Name())
		isDir, walkRoot := e.IsDir(), p
		if e.Type()&fs.ModeSymlink != 0 { // follow links so linked class folders count
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				// WalkDir does not follow a linked root; a trailing
				// separator makes it resolve the link.
				isDir, walkRoot = true, p+string(filepath.Separator)
			}
		}
		if isDir {
			label := len(f.classes)
			n, err := f.addClass(walkRoot, label)
			if err != nil {
				return nil, err
			}
			if n == 0 {
				return nil, fmt.Errorf("%s: class folder holds no .jpg/.jpeg/.png images", p)
			}
			f.classes = append(f.classes, e.Name())
		} else if isImageFile(e.Name()) {
			rootFiles = append(rootFiles, p)
		}
	}
	if len(rootFiles) > 0 && len(f.classes) > 0 {
		return nil, fmt.Errorf("%s: holds both images (%s, ...) and class folders (%s, ...); use one layout",
			root, filepath.Base(rootFiles[0]), f.classes[0])
	}
	for _, p := range rootFiles {
		f.files = append(f.files, p)
		f.labels = append(f.labels, -1)
	}
	if len(f.files) == 0 {
		return nil, fmt.Errorf("%s: no .jpg/.jpeg/.png images found", root)
	}
	return f, nil
}

// addClass appends the images below dir (lexical walk order) with label and
// returns how many it found.
func (f *ImageFolder) addClass(dir string, label int) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && isImageFile(d.Name()) {
			f.files = append(f.files, p)
			f.labels = append(f.labels, label)
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("image folder: %w", err)
	}
	return n, nil
}

// Name identifies the folder in logs ("imagefolder/<base name of root>").
func (f *ImageFolder) Name() string { return f.name }

// Len is the number of indexed images.
func (f *ImageFolder) Len() int { return len(f.files) }

// Shape is [Channels, Size, Size].
func (f *ImageFolder) Shape() []int { return []int{f.opt.Channels, f.opt.Size, f.opt.Size} }

// Classes returns the sorted class folder names (nil when unlabelled).
func (f *ImageFolder) Classes() []string { return f.classes }

// Path returns the file of image i.
func (f *ImageFolder) Path(i int) string { return f.files[i] }

// Skipped is the number of corrupt files Validate removed.
func (f *ImageFolder) Skipped() int { return f.skipped }

// Get decodes image i into dst as CHW float32 in [0, 1] and returns its label.
func (f *ImageFolder) Get(i int, dst []float32) (int, error) {
	if i < 0 || i >= len(f.files) {
		return 0, fmt.Errorf("%s: sample %d out of range [0, %d)", f.name, i, len(f.files))
	}
	if err := DecodeImageFile(f.files[i], f.opt, dst); err != nil {
		return 0, fmt.Errorf("%s: sample %d: %w", f.name, i, err)
	}
	return f.labels[i], nil
}

// Validate decodes every image with Workers parallel workers (each holds one
// image at a time) and returns the unreadable files. With SkipCorrupt it
// removes them from the index (labels and classes are unchanged; Skipped
// reports the count); otherwise it returns an error listing the first few
// and the total. progress, if not nil, is called from the calling goroutine
// after each image. A cancelled ctx stops the scan and leaves the index as
// it was.
func (f *ImageFolder) Validate(ctx context.Context, progress func(done, total int)) (bad []string, err error) {
	total := len(f.files)
	errs := make([]error, total)
	next := make(chan int)
	done := make(chan struct{}, f.opt.Workers)
	var wg sync.WaitGroup
	for range f.opt.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				// Decoding alone finds corrupt data; resizing cannot fail.
				if _, err := loadImage(f.files[i]); err != nil {
					errs[i] = err
				}
				done <- struct{}{}
			}
		}()
	}
	go func() {
		defer close(next)
		for i := range total {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(done) }()
	n := 0
	for range done {
		n++
		if progress != nil {
			progress(n, total)
		}
	}
	if err := ctx.Err(); err != nil && n < total {
		return nil, fmt.Errorf("%s: validation stopped after %d of %d images: %w", f.name, n, total, err)
	}
	var msgs []string
	keep := 0
	for i, e := range errs {
		if e != nil {
			bad = append(bad, f.files[i])
			if len(msgs) < 5 {
				msgs = append(msgs, e.Error())
			}
			continue
		}
		f.files[keep], f.labels[keep] = f.files[i], f.labels[i]
		keep++
	}
	if len(bad) == 0 {
		return nil, nil
	}
	if !f.opt.SkipCorrupt {
		return bad, fmt.Errorf("%s: %d of %d images are unreadable (set SkipCorrupt to drop them): %s",
			f.name, len(bad), total, strings.Join(msgs, "; "))
	}
	f.files, f.labels = f.files[:keep], f.labels[:keep]
	f.skipped += len(bad)
	if keep == 0 {
		return bad, fmt.Errorf("%s: all %d images are unreadable: %s", f.name, total, strings.Join(msgs, "; "))
	}
	return bad, nil
}

// peekReader serves a file held in memory with the Peek that package image
// wants, so that image.Decode does not wrap it in a bufio.Reader and the
// consumed length stays a meaningful position for error messages.
type peekReader struct {
	*bytes.Reader
	buf []byte
}

func (r peekReader) Peek(n int) ([]byte, error) {
	off := len(r.buf) - r.Len()
	if off+n > len(r.buf) {
		return r.buf[off:], io.ErrUnexpectedEOF
	}
	return r.buf[off : off+n], nil
}

// loadImage reads and decodes one JPEG or PNG file (the format is sniffed
// from the content, not the extension). Errors name the file and how far the
// decoder got.
func loadImage(path string) (image.Image, error) {
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, err // *PathError already names the file
	}
	r := peekReader{bytes.NewReader(buf), buf}
	cfg, format, err := image.DecodeConfig(r)
	if errors.Is(err, image.ErrFormat) {
		return nil, fmt.Errorf("%s: not a JPEG or PNG image (starts with % x)", path, buf[:min(len(buf), 8)])
	}
	if err != nil {
		return nil, fmt.Errorf("%s: reading %s header near byte %d of %d: %w", path, format, len(buf)-r.Len(), len(buf), err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxImagePixels {
		return nil, fmt.Errorf("%s: %s of %dx%d pixels is empty or larger than %d pixels", path, format, cfg.Width, cfg.Height, maxImagePixels)
	}
	r.Reset(buf)
	img, _, err := image.Decode(r)
	if err != nil {
		// The JPEG decoder reads ahead up to 4 KiB, so the offset is approximate.
		return nil, fmt.Errorf("%s: decoding %s near byte %d of %d: %w", path, format, len(buf)-r.Len(), len(buf), err)
	}
	return img, nil
}

// DecodeImageFile decodes the JPEG or PNG at path, resizes and centre-crops it
// to o.Size as o.Resize says, and writes it to dst (len Channels·Size·Size)
// as CHW float32 in [0, 1]. Transparent pixels are composited over black.
func DecodeImageFile(path string, o ImageFolderOptions, dst []float32) error {
	o, err := o.withDefaults()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if want := o.Channels * o.Size * o.Size; len(dst) != want {
		return fmt.Errorf("%s: destination of %d values for an image of %d", path, len(dst), want)
	}
	img, err := loadImage(path)
	if err != nil {
		return err
	}
	renderSquare(img, o, dst)
	return nil
}

// renderSquare resizes and crops img to an S×S RGBA and converts it to CHW.
func renderSquare(img image.Image, o ImageFolderOptions, dst []float32) {
	s := o.Size
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	rgba := image.NewRGBA(image.Rect(0, 0, s, s))
	switch {
	case min(w, h) == s:
		// No scaling: copy the centre square (the std fast paths cover
		// YCbCr, RGBA, NRGBA, Gray).
		sp := b.Min.Add(image.Pt((w-s)/2, (h-s)/2))
		draw.Copy(rgba, image.Point{}, img, image.Rectangle{Min: sp, Max: sp.Add(image.Pt(s, s))}, draw.Src, nil)
	case o.Resize == "crop":
		m := min(w, h)
		sp := b.Min.Add(image.Pt((w-m)/2, (h-m)/2))
		draw.BiLinear.Scale(rgba, rgba.Bounds(), img, image.Rectangle{Min: sp, Max: sp.Add(image.Pt(m, m))}, draw.Src, nil)
	default:
		// Scale the whole image so the shorter side is s (long side
		// truncated as torchvision does), placed so that dst shows its
		// centre; the scaler clips to dst, so no full-size buffer is needed.
		sw, sh := s, s
		if w < h {
			sh = max(s, h*s/w)
		} else {
			sw = max(s, w*s/h)
		}
		ox, oy := (sw-s)/2, (sh-s)/2
		draw.BiLinear.Scale(rgba, image.Rect(-ox, -oy, sw-ox, sh-oy), img, b, draw.Src, nil)
	}
	toCHW(rgba, o.Channels, dst)
}

// toCHW converts an S×S RGBA (Stride 4·S, origin 0) to planar float32.
func toCHW(m *image.RGBA, channels int, dst []float32) {
	n := m.Rect.Dx() * m.Rect.Dy()
	pix := m.Pix[:4*n]
	if channels == 1 {
		for i := range n {
			p := pix[4*i : 4*i+4 : 4*i+4]
			// ITU-R 601 luma with integer weights summing to 1<<16, so grey
			// stays exactly grey.
			y := (19595*uint32(p[0]) + 38470*uint32(p[1]) + 7471*uint32(p[2]) + 1<<15) >> 16
			dst[i] = float32(y) / 255
		}
		return
	}
	r, g, b := dst[:n], dst[n:2*n], dst[2*n:3*n]
	for i := range n {
		p := pix[4*i : 4*i+4 : 4*i+4]
		r[i] = float32(p[0]) / 255
		g[i] = float32(p[1]) / 255
		b[i] = float32(p[2]) / 255
	}
}
