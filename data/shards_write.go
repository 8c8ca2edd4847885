package data

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fdsm-go/fdsm/tensor"
)

// ShardWriteOptions configures WriteShards.
type ShardWriteOptions struct {
	PerShard int    // records per shard (default 1000)
	Prefix   string // shard file names are Prefix-000000.tar, ... (default "shard")
	Seed     uint64 // seeds the order of the images across shards
	// NoShuffle keeps the folder's sorted order; a class-sorted folder then
	// gives shards of one class each, which the loader's block shuffle
	// cannot mix, so shuffling is the default.
	NoShuffle bool
}

// WriteShards writes the images of f into tar shards in dir (WebDataset
// layout): per image, key.jpg (or key.png) with the file's bytes unchanged,
// key.cls with its class index when the folder has classes, and key.json
// with its file and class names. The key is the image's index in the
// folder's sorted order, zero-padded. The output is a function of the
// folder's files and the options alone (fixed order, times and owners).
// The shard index (ShardIndexName) is written last. A dir that already
// holds shards or an index is refused: nothing is overwritten. It returns
// the shard paths in order.
func WriteShards(f *ImageFolder, dir string, o ShardWriteOptions) ([]string, error) {
	if o.PerShard <= 0 {
		o.PerShard = 1000
	}
	if o.Prefix == "" {
		o.Prefix = "shard"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if old, _ := filepath.Glob(filepath.Join(dir, "*.tar")); len(old) > 0 {
		return nil, fmt.Errorf("%s already holds shards (%s, ...): write into a new or empty directory", dir, filepath.Base(old[0]))
	}
	if _, err := os.Stat(filepath.Join(dir, ShardIndexName)); err == nil {
		return nil, fmt.Errorf("%s already holds a shard index (%s): write into a new or empty directory", dir, ShardIndexName)
	}
	order := make([]int, f.Len())
	for i := range order {
		order[i] = i
	}
	if !o.NoShuffle {
		rng := tensor.NewRNG(o.Seed)
		for i := len(order) - 1; i > 0; i-- {
			j := rng.IntN(i + 1)
			order[i], order[j] = order[j], order[i]
		}
	}
	var paths []string
	ix := ShardIndex{Kind: shardIndexKind, Version: 1}
	for k := 0; k*o.PerShard < len(order); k++ {
		name := fmt.Sprintf("%s-%06d.tar", o.Prefix, k)
		p := filepath.Join(dir, name)
		idx := order[k*o.PerShard : min((k+1)*o.PerShard, len(order))]
		if err := writeShard(f, p, idx); err != nil {
			return paths, err
		}
		paths = append(paths, p)
		fi, err := os.Stat(p)
		if err != nil {
			return paths, err
		}
		ix.Shards = append(ix.Shards, ShardEntry{URL: name, Records: len(idx), FileSize: fi.Size()})
	}
	return paths, writeShardIndex(filepath.Join(dir, ShardIndexName), ix)
}

// writeShard writes the images idx of f to path, through a temporary file
// renamed at the end so that a shard is never seen half written.
func writeShard(f *ImageFolder, path string, idx []int) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".shard-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 1<<20)
	tw := tar.NewWriter(bw)
	width := len(strconv.Itoa(max(f.Len()-1, 0)))
	for _, i := range idx {
		if err := writeShardRecord(tw, f, i, fmt.Sprintf("%0*d", max(width, 8), i)); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		tmp.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// writeShardRecord adds image i's members under key.
func writeShardRecord(tw *tar.Writer, f *ImageFolder, i int, key string) error {
	src := f.Path(i)
	img, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	ext := "jpg"
	if strings.EqualFold(filepath.Ext(src), ".png") {
		ext = "png"
	}
	meta := map[string]string{"file": filepath.Base(src)}
	if err := addMember(tw, key+"."+ext, img); err != nil {
		return err
	}
	if l := f.labels[i]; l >= 0 {
		meta["class"] = f.classes[l]
		if err := addMember(tw, key+".cls", []byte(strconv.Itoa(l))); err != nil {
			return err
		}
	}
	js, _ := json.Marshal(meta) // map keys are sorted: deterministic
	return addMember(tw, key+".json", js)
}

func addMember(tw *tar.Writer, name string, b []byte) error {
	h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err := tw.Write(b)
	return err
}

// ShardFiles lists the shards at p: the .tar files of a directory, sorted by
// name, or the matches of a glob pattern, sorted.
func ShardFiles(p string) ([]string, error) {
	pattern := p
	if st, err := os.Stat(p); err == nil && st.IsDir() {
		pattern = filepath.Join(p, "*.tar")
	}
	m, err := filepath.Glob(pattern)
	if err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("%s: no .tar shards found", p)
	}
	sort.Strings(m)
	return m, nil
}
