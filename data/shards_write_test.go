package data

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestWriteShards writes a class folder into shards twice (byte-identical),
// and reads them back: every image once, with its class.
func TestWriteShards(t *testing.T) {
	root := t.TempDir()
	for c, class := range []string{"cat", "dog"} {
		if err := os.MkdirAll(filepath.Join(root, class), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if err := os.WriteFile(filepath.Join(root, class, string(rune('a'+i))+".jpg"), testJPEG(t, 24, 20, c*10+i), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	f, err := OpenImageFolder(root, ImageFolderOptions{Size: 8})
	if err != nil {
		t.Fatal(err)
	}
	var outs [2][]string
	for k := range outs {
		if outs[k], err = WriteShards(f, filepath.Join(t.TempDir(), "out"), ShardWriteOptions{PerShard: 4, Seed: 3}); err != nil {
			t.Fatal(err)
		}
	}
	if len(outs[0]) != 3 {
		t.Fatalf("%d shards of 4 for 10 images", len(outs[0]))
	}
	for i := range outs[0] {
		a, _ := os.ReadFile(outs[0][i])
		b, _ := os.ReadFile(outs[1][i])
		if !bytes.Equal(a, b) {
			t.Errorf("shard %d differs between two runs", i)
		}
	}
	paths, err := ShardFiles(filepath.Dir(outs[0][0]))
	if err != nil || !slices.Equal(paths, outs[0]) {
		t.Fatalf("ShardFiles: %v %v", paths, err)
	}
	// The index, written with the shards, counts their records.
	if counts, stale, err := ShardCounts(paths); err != nil || !slices.Equal(counts, []int{4, 4, 2}) || stale != nil {
		t.Errorf("index: counts %v, stale %v, %v", counts, stale, err)
	}
	// Nothing is overwritten: a directory holding shards is refused.
	if _, err := WriteShards(f, filepath.Dir(paths[0]), ShardWriteOptions{PerShard: 5}); err == nil || !strings.Contains(err.Error(), "already holds shards") {
		t.Errorf("writing over shards: %v", err)
	}
	l, err := NewShardLoader(ShardLoaderOptions{Paths: paths, BatchSize: 3, Image: ImageFolderOptions{Size: 8},
		Sampler: ShardSampler{World: 1, Workers: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Start(l.Sampler().Start(0)); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for {
		b, err := l.Next()
		if err != nil {
			break
		}
		for i, k := range b.Keys {
			seen[k] = b.Labels[i]
			folderLabel := f.labels[atoiOr(t, k)]
			if b.Labels[i] != folderLabel {
				t.Errorf("record %s: label %d, folder %d", k, b.Labels[i], folderLabel)
			}
		}
		b.Release()
	}
	if len(seen) != 10 {
		t.Errorf("read back %d of 10 images", len(seen))
	}
}

func atoiOr(t *testing.T, s string) int {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("key %q is not a number", s)
		}
		n = 10*n + int(c-'0')
	}
	return n
}
