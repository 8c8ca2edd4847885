package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/fdsm-go/fdsm/data"
	"github.com/fdsm-go/fdsm/tensor"
)

// DataOptions size the data benchmark.
type DataOptions struct {
	Backend  tensor.Backend // where batches go (nil: a fresh CPU backend)
	Batch    int            // default 128
	Images   int            // JPEGs written for the folder case; default 512
	ImageDir string
	Progress func(stage string)
}

// DataCase is one dataset's figures.
type DataCase struct {
	Name string `json:"name"`
	// LoaderPerSec is samples per second through the prefetching loader
	// (one epoch, batches assembled into float32 tensors).
	LoaderPerSec float64 `json:"loader_samples_per_sec"`
	// RawPerSec is samples per second of Dataset.Get alone on one goroutine,
	// in the same run: for MNIST a copy out of memory, for JPEGs the decode
	// and resize.
	RawPerSec float64 `json:"raw_samples_per_sec"`
	// WaitMs is the loader's total data wait over the epoch.
	WaitMs float64 `json:"wait_ms"`
}

// DataResult is the data benchmark.
type DataResult struct {
	GOMAXPROCS int        `json:"gomaxprocs"`
	Batch      int        `json:"batch"`
	Cases      []DataCase `json:"cases"`
	// Shards: the same JPEGs as tar shards, per decoder and output size.
	Shards []ShardCase `json:"shards"`
}

// Data measures the loader on MNIST (from the GoMNIST module), on a
// folder of 256x256 JPEGs it writes (decoded, resized to 64 and 128), and
// on the same JPEGs as tar shards through the shard loader.
func Data(opts DataOptions) (DataResult, error) {
	if opts.Batch <= 0 {
		opts.Batch = 128
	}
	if opts.Images <= 0 {
		opts.Images = 512
	}
	res := DataResult{GOMAXPROCS: runtime.GOMAXPROCS(0), Batch: opts.Batch}
	progress := func(s string) {
		if opts.Progress != nil {
			opts.Progress(s)
		}
	}
	progress("mnist")
	mnist, err := data.LoadMNIST("", true)
	if err != nil {
		return res, err
	}
	pad, err := data.ParseTransforms([]string{"pad:32"})
	if err != nil {
		return res, err
	}
	c, err := measureData("mnist train (pad 32)", mnist, pad, opts)
	if err != nil {
		return res, err
	}
	res.Cases = append(res.Cases, c)

	dir := opts.ImageDir
	if dir == "" {
		dir, err = os.MkdirTemp("", "fdsm-bench-jpeg")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(dir)
	}
	progress("writing jpegs")
	if err := writeJPEGs(dir, opts.Images); err != nil {
		return res, err
	}
	folder, err := data.OpenImageFolder(dir, data.ImageFolderOptions{Size: 64})
	if err != nil {
		return res, err
	}
	progress("jpeg folder")
	c, err = measureData(fmt.Sprintf("jpeg folder 256x256 -> 64 (%d images)", opts.Images), folder, nil, opts)
	if err != nil {
		return res, err
	}
	res.Cases = append(res.Cases, c)
	folder128, err := data.OpenImageFolder(dir, data.ImageFolderOptions{Size: 128})
	if err != nil {
		return res, err
	}
	c, err = measureData(fmt.Sprintf("jpeg folder 256x256 -> 128 (%d images)", opts.Images), folder128, nil, opts)
	if err != nil {
		return res, err
	}
	res.Cases = append(res.Cases, c)
	progress("jpeg shards")
	res.Shards, err = benchShards(folder, opts)
	return res, err
}

func measureData(name string, d data.Dataset, ts []data.Transform, opts DataOptions) (DataCase, error) {
	batch, be := opts.Batch, opts.Backend
	if be == nil {
		be = tensor.NewCPU()
	}
	c := DataCase{Name: name}
	buf := make([]float32, data.Numel(d))
	n := min(d.Len(), 2000)
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, err := d.Get(i, buf); err != nil {
			return c, err
		}
	}
	c.RawPerSec = float64(n) / time.Since(start).Seconds()

	l, err := data.NewLoader(data.LoaderOptions{Dataset: d, Transforms: ts, BatchSize: batch, Backend: be})
	if err != nil {
		return c, err
	}
	defer l.Close()
	if err := l.Start(0, 0); err != nil {
		return c, err
	}
	samples := 0
	start = time.Now()
	for {
		b, err := l.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return c, err
		}
		samples += len(b.Labels)
		b.Release()
	}
	if err := be.Sync(); err != nil { // the copies to a device have landed
		return c, err
	}
	c.LoaderPerSec = float64(samples) / time.Since(start).Seconds()
	c.WaitMs = float64(l.WaitStats().Wait.Microseconds()) / 1e3
	return c, nil
}

// writeJPEGs writes n smooth 256x256 test images (quality 90).
func writeJPEGs(dir string, n int) error {
	img := image.NewRGBA(image.Rect(0, 0, 256, 256))
	for i := 0; i < n; i++ {
		for y := 0; y < 256; y++ {
			for x := 0; x < 256; x++ {
				img.Set(x, y, color.RGBA{uint8(x + i), uint8(y * 2), uint8((x + y + 3*i) / 2), 255})
			}
		}
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("img%05d.jpg", i)))
		if err != nil {
			return err
		}
		err = jpeg.Encode(f, img, &jpeg.Options{Quality: 90})
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// String formats the result as a table.
func (r DataResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "data benchmark (GOMAXPROCS=%d, batch %d, float32)\n", r.GOMAXPROCS, r.Batch)
	fmt.Fprintf(&b, "%-42s %16s %16s %10s\n", "dataset", "loader samples/s", "raw samples/s", "wait ms")
	for _, c := range r.Cases {
		fmt.Fprintf(&b, "%-42s %16.0f %16.0f %10.1f\n", c.Name, c.LoaderPerSec, c.RawPerSec, c.WaitMs)
	}
	if len(r.Shards) > 0 {
		b.WriteString(shardTable(r.Shards))
	}
	return b.String()
}
