package data

// The shard index: how many records each shard holds. With it, every rank
// of a data-parallel run knows the size of every other rank's share of an
// epoch, so all ranks end their epochs at the same step and any rank can
// compute the whole world's position (ShardSampler.Counts).

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ShardIndexName is the index file `fdsm data shard` and `fdsm data index`
// write beside the shards, and the loader looks for there.
const ShardIndexName = "shards.json"

// shardIndexKind marks the file; the layout is that of WebDataset's wids
// shard index (a "shardlist" of {url, nsamples}), so an index written by
// its tools, saved under ShardIndexName, is read too.
const shardIndexKind = "wids-shard-index-v1"

// ShardIndex lists shards with their record counts.
type ShardIndex struct {
	Kind    string       `json:"__kind__,omitempty"`
	Version int          `json:"wids_version"`
	Shards  []ShardEntry `json:"shardlist"`
}

// ShardEntry is one shard: its file (URL, relative to the index's
// directory), its record count (a record is the members sharing a key,
// usable or not) and its size in bytes when indexed.
type ShardEntry struct {
	URL      string `json:"url"`
	Records  int    `json:"nsamples"`
	FileSize int64  `json:"filesize,omitempty"`
}

// CountShardRecords counts the records of one shard. A shard that ends
// early or is corrupt returns the records before the damage and the error.
func CountShardRecords(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	recs := newShardRecords(bufio.NewReaderSize(f, 1<<20))
	n := 0
	for {
		_, err := recs.next(true)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("%s: after %d records: %w", path, n, err)
		}
		n++
	}
}

// IndexShards counts the records of every shard in paths and writes the
// index into dir (the shards' directory; the index names them relative to
// it), through a temporary file renamed at the end. A shard that cannot be
// read whole is an error: an index must not bake damage into the counts.
// done, if set, is called after each shard with the number indexed.
func IndexShards(dir string, paths []string, done func(int)) (ShardIndex, error) {
	ix := ShardIndex{Kind: shardIndexKind, Version: 1}
	for i, p := range paths {
		n, err := CountShardRecords(p)
		if err != nil {
			return ShardIndex{}, err
		}
		fi, err := os.Stat(p)
		if err != nil {
			return ShardIndex{}, err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return ShardIndex{}, err
		}
		ix.Shards = append(ix.Shards, ShardEntry{URL: filepath.ToSlash(rel), Records: n, FileSize: fi.Size()})
		if done != nil {
			done(i + 1)
		}
	}
	return ix, writeShardIndex(filepath.Join(dir, ShardIndexName), ix)
}

func writeShardIndex(path string, ix ShardIndex) error {
	b, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".shards-index-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ReadShardIndex reads an index file.
func ReadShardIndex(path string) (ShardIndex, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return ShardIndex{}, err
	}
	var ix ShardIndex
	if err := json.Unmarshal(b, &ix); err != nil {
		return ShardIndex{}, fmt.Errorf("%s: not a shard index: %w", path, err)
	}
	if ix.Kind != "" && ix.Kind != shardIndexKind {
		return ShardIndex{}, fmt.Errorf("%s: index kind %q, want %q", path, ix.Kind, shardIndexKind)
	}
	for _, e := range ix.Shards {
		if e.URL == "" || e.Records < 0 {
			return ShardIndex{}, fmt.Errorf("%s: bad entry %+v (want a url and nsamples >= 0)", path, e)
		}
	}
	return ix, nil
}

// ShardCounts are the record counts of paths from the index in their
// directory (ShardIndexName; all paths must share one directory). Without
// an index it returns nil counts and no error: the loader then reads
// without them. Stale lists the shards whose size differs from the
// index's: rewritten since (rerun the index) or damaged (their missing
// records count as bad inputs).
func ShardCounts(paths []string) (counts []int, stale []string, err error) {
	if len(paths) == 0 {
		return nil, nil, nil
	}
	dir := filepath.Dir(paths[0])
	ixPath := filepath.Join(dir, ShardIndexName)
	ix, err := ReadShardIndex(ixPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	byName := map[string]ShardEntry{}
	for _, e := range ix.Shards {
		byName[filepath.Clean(filepath.Join(dir, filepath.FromSlash(e.URL)))] = e
	}
	counts = make([]int, len(paths))
	for i, p := range paths {
		if filepath.Dir(p) != dir {
			return nil, nil, fmt.Errorf("shards in two directories (%s, %s) with an index in the first: keep a run's shards in one directory", dir, filepath.Dir(p))
		}
		e, ok := byName[filepath.Clean(p)]
		if !ok {
			return nil, nil, fmt.Errorf("%s is not in %s: rerun `fdsm data index %s`", p, ixPath, dir)
		}
		counts[i] = e.Records
		if fi, err := os.Stat(p); err == nil && e.FileSize > 0 && fi.Size() != e.FileSize {
			stale = append(stale, p)
		}
	}
	return counts, stale, nil
}
