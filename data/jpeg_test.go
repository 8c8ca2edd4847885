package data

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestReduction(t *testing.T) {
	for _, c := range [][4]int{{256, 256, 64, 4}, {256, 256, 128, 2}, {256, 256, 32, 8}, {256, 256, 200, 1}, {500, 375, 64, 4}, {375, 500, 100, 2}} {
		if got := reduction(c[0], c[1], c[2]); got != c[3] {
			t.Errorf("reduction(%d, %d, %d) = %d, want %d", c[0], c[1], c[2], got, c[3])
		}
	}
}

// TestJPEGDecodersMatchFolder: every decoder of this build, with its scaled
// decode, gives what the image folder's full decode and resize give, up to
// the differences of the filters.
func TestJPEGDecodersMatchFolder(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		w, h, size, channels int
		resize               string
	}{{256, 256, 64, 3, ""}, {256, 256, 128, 3, ""}, {300, 200, 64, 1, ""}, {200, 300, 48, 3, "crop"}} {
		buf := testJPEG(t, c.w, c.h, 3)
		path := filepath.Join(dir, "x.jpg")
		if err := os.WriteFile(path, buf, 0o644); err != nil {
			t.Fatal(err)
		}
		o := ImageFolderOptions{Size: c.size, Channels: c.channels, Resize: c.resize}
		want := make([]float32, c.channels*c.size*c.size)
		if err := DecodeImageFile(path, o, want); err != nil {
			t.Fatal(err)
		}
		for _, name := range JPEGDecoders() {
			d, err := NewJPEGDecoder(name, o)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]float32, len(want))
			if err := d.Decode(buf, got); err != nil {
				t.Fatal(err)
			}
			d.Close()
			sum := 0.0
			for i := range got {
				sum += math.Abs(float64(got[i] - want[i]))
			}
			if mean := sum / float64(len(got)); mean > 0.02 {
				t.Errorf("%s %+v: mean |difference| %.4f from the folder decode", name, c, mean)
			}
		}
	}
}

// TestJPEGDecodersRejectBadInput: a cut or garbled JPEG is an error, never
// a padded image, and the decoder decodes the next good image correctly.
func TestJPEGDecodersRejectBadInput(t *testing.T) {
	good := testJPEG(t, 64, 64, 1)
	garbled := append([]byte(nil), good...)
	for i := 200; i < 260; i++ {
		garbled[i] = 0xff
	}
	o := ImageFolderOptions{Size: 16}
	for _, name := range JPEGDecoders() {
		d, err := NewJPEGDecoder(name, o)
		if err != nil {
			t.Fatal(err)
		}
		ref := make([]float32, 3*16*16)
		if err := d.Decode(good, ref); err != nil {
			t.Fatal(err)
		}
		for what, bad := range map[string][]byte{"cut": good[:len(good)/2], "garbled": garbled, "empty": nil, "not an image": []byte("hello")} {
			dst := make([]float32, len(ref))
			if err := d.Decode(bad, dst); err == nil {
				t.Errorf("%s: %s JPEG decoded without error", name, what)
			}
			if err := d.Decode(good, dst); err != nil || dst[100] != ref[100] {
				t.Errorf("%s: good image after a %s one: %v", name, what, err)
			}
		}
		d.Close()
	}
	if _, err := NewJPEGDecoder("nosuch", o); err == nil {
		t.Error("unknown decoder accepted")
	}
}
