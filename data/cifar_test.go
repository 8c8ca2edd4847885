package data

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// cifarBatch builds n CIFAR-10 records per the format (label byte, then the
// R, G and B planes, row-major 32x32); pixel (c, y, x) of record r of batch
// b is (b + 3r + 5c + 7y + 11x) mod 256.
func cifarBatch(b, n int) []byte {
	out := make([]byte, 0, n*cifarRecord)
	for r := 0; r < n; r++ {
		out = append(out, byte((b+r)%10))
		for c := 0; c < 3; c++ {
			for y := 0; y < 32; y++ {
				for x := 0; x < 32; x++ {
					out = append(out, byte(b+3*r+5*c+7*y+11*x))
				}
			}
		}
	}
	return out
}

func TestLoadCIFAR10(t *testing.T) {
	dir := t.TempDir()
	for b := 1; b <= 5; b++ {
		writeFile(t, dir, fmt.Sprintf("data_batch_%d.bin", b), cifarBatch(b, 2))
	}
	writeFile(t, dir, "test_batch.bin", cifarBatch(0, 3))

	for _, tc := range []struct {
		train bool
		n     int
	}{{true, 10}, {false, 3}} {
		d, err := LoadCIFAR10(dir, tc.train)
		if err != nil {
			t.Fatal(err)
		}
		if d.Len() != tc.n || fmt.Sprint(d.Shape()) != "[3 32 32]" {
			t.Fatalf("%s: len %d shape %v", d.Name(), d.Len(), d.Shape())
		}
	}
	d, _ := LoadCIFAR10(dir, true)
	dst := make([]float32, 3072)
	// Sample 7 is record 1 of data_batch_4.
	label, err := d.Get(7, dst)
	if err != nil || label != 5 {
		t.Fatalf("Get(7): label %d, err %v", label, err)
	}
	for _, p := range [][3]int{{0, 0, 0}, {1, 2, 3}, {2, 31, 30}} {
		c, y, x := p[0], p[1], p[2]
		want := float32(byte(4+3+5*c+7*y+11*x)) / 255
		if got := dst[c*1024+y*32+x]; got != want {
			t.Errorf("pixel %v = %v, want %v", p, got, want)
		}
	}
}

func TestLoadCIFAR10Corrupt(t *testing.T) {
	dir := t.TempDir()
	for b := 1; b <= 4; b++ {
		writeFile(t, dir, fmt.Sprintf("data_batch_%d.bin", b), cifarBatch(b, 1))
	}
	_, err := LoadCIFAR10(dir, true)
	wantErr(t, err, filepath.Join(dir, "data_batch_5.bin"))

	p := writeFile(t, dir, "data_batch_5.bin", cifarBatch(5, 2)[:cifarRecord+100])
	_, err = LoadCIFAR10(dir, true)
	wantErr(t, err, p, "size 3173", "3073")

	bad := cifarBatch(0, 3)
	bad[2*cifarRecord] = 10
	p = writeFile(t, dir, "test_batch.bin", bad)
	_, err = LoadCIFAR10(dir, false)
	wantErr(t, err, p, "record 2", "offset 6146", "label 10")

	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	_, err = LoadCIFAR10(dir, false)
	wantErr(t, err, p)
}
