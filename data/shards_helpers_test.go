package data

import (
	"archive/tar"
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// testJPEG encodes a smooth w×h image whose colours depend on seed.
func testJPEG(t testing.TB, w, h, seed int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x*255/w + seed), uint8(y * 255 / h), uint8((x + y + 7*seed) / 2), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

type testMember struct {
	name string
	data []byte
}

// writeTar writes members to path.
func writeTar(t testing.TB, path string, members []testMember) {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, m := range members {
		if err := tw.WriteHeader(&tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(m.data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(m.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// recordMembers is one good record: key.jpg (a 16×16 image) and key.cls.
func recordMembers(t testing.TB, key string, label int) []testMember {
	return []testMember{{key + ".jpg", testJPEG(t, 16, 16, label)}, {key + ".cls", []byte(strconv.Itoa(label))}}
}

// writeTestShards writes one shard per count under dir, shard s holding
// records "s<s>-<i>", and returns the paths and every key.
func writeTestShards(t testing.TB, dir string, counts []int) (paths, keys []string) {
	t.Helper()
	for s, n := range counts {
		var ms []testMember
		for i := range n {
			key := fmt.Sprintf("s%d-%03d", s, i)
			ms = append(ms, recordMembers(t, key, (s*7+i)%10)...)
			keys = append(keys, key)
		}
		p := filepath.Join(dir, fmt.Sprintf("t-%03d.tar", s))
		writeTar(t, p, ms)
		paths = append(paths, p)
	}
	return paths, keys
}
