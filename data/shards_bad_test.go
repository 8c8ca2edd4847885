package data

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeBadShards writes three shards: a corrupt JPEG in one, an unknown
// member and a record without an image in another, and a third truncated in
// the middle of its fourth record. It returns the paths and the keys of
// the good records.
func writeBadShards(t *testing.T, dir string) (paths, good []string) {
	t.Helper()
	corrupt := testJPEG(t, 16, 16, 9)
	corrupt = corrupt[:len(corrupt)/2]     // the decoders must report, not pad, a cut scan
	a := []testMember{{"a9.jpg", corrupt}} // first, so that the records after it move up
	for i := range 4 {
		a = append(a, recordMembers(t, "a"+string(rune('0'+i)), i)...)
	}
	var b []testMember
	b = append(b, recordMembers(t, "b0", 1)...)
	b = append(b, testMember{"b1.jpg", testJPEG(t, 16, 16, 2)}, testMember{"b1.xyz", []byte("?")})
	b = append(b, testMember{"b2.cls", []byte("3")})
	b = append(b, recordMembers(t, "b3", 3)...)
	var c []testMember
	for i := range 6 {
		c = append(c, recordMembers(t, "c"+string(rune('0'+i)), i)...)
	}
	paths = []string{filepath.Join(dir, "a.tar"), filepath.Join(dir, "b.tar"), filepath.Join(dir, "c.tar")}
	writeTar(t, paths[0], a)
	writeTar(t, paths[1], b)
	writeTar(t, paths[2], c)
	buf, err := os.ReadFile(paths[2])
	if err != nil {
		t.Fatal(err)
	}
	cut := bytes.Index(buf, []byte("c3.jpg")) + 700 // inside record c3's image
	if err := os.WriteFile(paths[2], buf[:cut], 0o644); err != nil {
		t.Fatal(err)
	}
	good = []string{"a0", "a1", "a2", "a3", "b0", "b3", "c0", "c1", "c2"}
	return paths, good
}

func TestShardBadInputsSkipped(t *testing.T) {
	paths, good := writeBadShards(t, t.TempDir())
	for _, dec := range JPEGDecoders() {
		var bad []BadInput
		l, err := NewShardLoader(ShardLoaderOptions{Paths: paths, BatchSize: 4, Decoder: dec, MaxBad: 4,
			Sampler: ShardSampler{World: 1, Workers: 2, Buffer: 2},
			OnBad:   func(b BadInput) { bad = append(bad, b) }})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Start(l.Sampler().Start(0)); err != nil {
			t.Fatal(err)
		}
		keys := readCheckingRows(t, l, dec)
		l.Close()
		checkExactlyOnce(t, dec+": good records", keys, good)
		var msgs []string
		for _, b := range bad {
			msgs = append(msgs, b.Error())
		}
		slices.Sort(msgs)
		want := []string{"a.tar: record a9:", "b.tar: record b1: unknown member b1.xyz", "b.tar: record b2: no .jpg", "c.tar: shard ends early"}
		if len(msgs) != len(want) || l.Bad() != int64(len(want)) {
			t.Fatalf("%s: bad inputs %q (count %d), want %d", dec, msgs, l.Bad(), len(want))
		}
		for i, w := range want {
			if !strings.Contains(msgs[i], w) {
				t.Errorf("%s: bad input %q, want it to contain %q", dec, msgs[i], w)
			}
		}
	}
}

// TestShardBadInputLimit: one bad input more than MaxBad stops the epoch
// with an error naming the last one, and the loader stays usable.
func TestShardBadInputLimit(t *testing.T) {
	paths, _ := writeBadShards(t, t.TempDir())
	l, err := NewShardLoader(ShardLoaderOptions{Paths: paths, BatchSize: 2, MaxBad: 2,
		Sampler: ShardSampler{World: 1, Workers: 1, Buffer: 3}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for range 2 {
		if err := l.Start(l.Sampler().Start(0)); err != nil {
			t.Fatal(err)
		}
		err := readToError(l)
		if !strings.Contains(err.Error(), "3 bad inputs, more than the 2 allowed") || !strings.Contains(err.Error(), ".tar") {
			t.Errorf("error %v", err)
		}
	}
}

func TestShardMissingFile(t *testing.T) {
	paths, good := writeTestShards(t, t.TempDir(), []int{3})
	l, err := NewShardLoader(ShardLoaderOptions{Paths: append(paths, "/no/such.tar"), BatchSize: 2, MaxBad: -1,
		Sampler: ShardSampler{World: 1, Workers: 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Start(l.Sampler().Start(0)); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, "readable shard", readKeys(t, l, -1), good)
	if l.Bad() != 1 {
		t.Errorf("bad = %d, want 1 (the missing shard)", l.Bad())
	}
}

// readCheckingRows reads the epoch and checks that every batch row is the
// decode of its record's image (records of label c hold testJPEG seed c),
// so that rows move up with their keys past a failed decode.
func readCheckingRows(t *testing.T, l *ShardLoader, dec string) []string {
	t.Helper()
	d, err := NewJPEGDecoder(dec, ImageFolderOptions{Size: 32})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	want := make([]float32, 3*32*32)
	var keys []string
	for {
		b, err := l.Next()
		if err == io.EOF {
			return keys
		}
		if err != nil {
			t.Fatal(err)
		}
		rows := b.X.Float32s()
		for i, k := range b.Keys {
			if err := d.Decode(testJPEG(t, 16, 16, b.Labels[i]), want); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rows[i*len(want):(i+1)*len(want)], want) {
				t.Errorf("%s: batch row %d is not the image of record %s", dec, i, k)
			}
		}
		keys = append(keys, b.Keys...)
		b.Release()
	}
}
