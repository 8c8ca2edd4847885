package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/fdsm-go/fdsm/data"
)

// ShardCase is one (decoder, size) of the shard benchmark, per core of
// GOMAXPROCS.
type ShardCase struct {
	Decoder string `json:"decoder"`
	Size    int    `json:"size"`
	// DecodePerCore is images/s of JPEG decode + resize alone, from bytes
	// in memory on GOMAXPROCS goroutines, divided by GOMAXPROCS.
	DecodePerCore float64 `json:"decode_images_per_sec_per_core"`
	// LoaderPerCore is images/s through the shard loader (tar reading,
	// shuffle buffer, decoding on GOMAXPROCS goroutines, batch assembly)
	// divided by GOMAXPROCS.
	LoaderPerCore float64 `json:"loader_images_per_sec_per_core"`
	WaitMs        float64 `json:"wait_ms"`
}

// benchShards writes the folder's images into shards and measures every
// decoder of this build at 64 and 128 pixels.
func benchShards(folder *data.ImageFolder, opts DataOptions) ([]ShardCase, error) {
	dir, err := os.MkdirTemp("", "fdsm-bench-shards")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	paths, err := data.WriteShards(folder, dir, data.ShardWriteOptions{PerShard: 128})
	if err != nil {
		return nil, err
	}
	raw := make([][]byte, folder.Len())
	for i := range raw {
		if raw[i], err = os.ReadFile(folder.Path(i)); err != nil {
			return nil, err
		}
	}
	var out []ShardCase
	for _, size := range []int{64, 128} {
		for _, dec := range data.JPEGDecoders() {
			c := ShardCase{Decoder: dec, Size: size}
			if c.DecodePerCore, err = decodeRate(dec, size, raw); err != nil {
				return nil, err
			}
			if err := loaderRate(&c, paths, opts.Batch); err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// decodeRate is images/s per core of decoding raw from memory on
// GOMAXPROCS goroutines, each with its own decoder, for at least 1 s and
// twice over raw: the same parallelism as the loader, without its reading,
// shuffling and batching.
func decodeRate(dec string, size int, raw [][]byte) (float64, error) {
	procs := runtime.GOMAXPROCS(0)
	counts, errs := make([]int, procs), make([]error, procs)
	var wg sync.WaitGroup
	start := time.Now()
	for g := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts[g], errs[g] = decodeFor(dec, size, raw, g, procs, start)
		}()
	}
	wg.Wait()
	n := 0
	for g := range procs {
		if errs[g] != nil {
			return 0, errs[g]
		}
		n += counts[g]
	}
	return float64(n) / time.Since(start).Seconds() / float64(procs), nil
}

// decodeFor decodes raw[g], raw[g+procs], ... round and round on one
// goroutine and returns how many it decoded.
func decodeFor(dec string, size int, raw [][]byte, g, procs int, start time.Time) (int, error) {
	d, err := data.NewJPEGDecoder(dec, data.ImageFolderOptions{Size: size})
	if err != nil {
		return 0, err
	}
	defer d.Close()
	dst := make([]float32, 3*size*size)
	n := 0
	for time.Since(start) < time.Second || n*procs < 2*len(raw) {
		if err := d.Decode(raw[(g+n*procs)%len(raw)], dst); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// loaderRate runs epochs of the shard loader for at least 1 s.
func loaderRate(c *ShardCase, paths []string, batch int) error {
	procs := runtime.GOMAXPROCS(0)
	l, err := data.NewShardLoader(data.ShardLoaderOptions{Paths: paths, BatchSize: batch, Decoder: c.Decoder,
		Image: data.ImageFolderOptions{Size: c.Size}, Sampler: data.ShardSampler{World: 1, Workers: procs, Shuffle: true, Buffer: 256}})
	if err != nil {
		return err
	}
	defer l.Close()
	n, start := 0, time.Now()
	for e := 0; e < 2 || time.Since(start) < time.Second; e++ {
		if err := l.Start(l.Sampler().Start(e)); err != nil {
			return err
		}
		for {
			b, err := l.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			n += len(b.Keys)
			b.Release()
		}
	}
	c.LoaderPerCore = float64(n) / time.Since(start).Seconds() / float64(procs)
	c.WaitMs = float64(l.Wait().Microseconds()) / 1e3
	return nil
}

// shardTable formats the shard cases.
func shardTable(cases []ShardCase) string {
	var b strings.Builder
	fmt.Fprintf(&b, "shards of 256x256 JPEGs, images/s per core\n%-14s %5s %14s %14s %8s %10s\n", "decoder", "size", "decode alone", "loader", "ratio", "wait ms")
	for _, c := range cases {
		fmt.Fprintf(&b, "%-14s %5d %14.0f %14.0f %8.2f %10.1f\n", c.Decoder, c.Size, c.DecodePerCore, c.LoaderPerCore, c.LoaderPerCore/c.DecodePerCore, c.WaitMs)
	}
	return b.String()
}
