package data

import (
	"encoding/binary"
	"fmt"
	"testing"
)

// svhnPixel is the test pattern for X(r, col, ch, i).
func svhnPixel(r, col, ch, i int) float64 { return float64((r + 2*col + 50*ch + 7*i) % 256) }

// svhnX lays out n 32x32x3 images column-major, as MATLAB stores X.
func svhnX(n int) []float64 {
	x := make([]float64, 0, 32*32*3*n)
	for i := 0; i < n; i++ {
		for ch := 0; ch < 3; ch++ {
			for col := 0; col < 32; col++ {
				for r := 0; r < 32; r++ {
					x = append(x, svhnPixel(r, col, ch, i))
				}
			}
		}
	}
	return x
}

var svhnY = []float64{10, 1, 2, 3, 9}

func TestLoadSVHN(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		o     matOrder
		comp  bool
		xType uint32
	}{
		{binary.LittleEndian, false, miUINT8}, {binary.LittleEndian, true, miUINT8},
		{binary.BigEndian, true, miUINT8}, {binary.LittleEndian, false, miDOUBLE},
	} {
		e := matEnc{tc.o}
		x := e.matrix("X", 9, []int{32, 32, 3, 5}, tc.xType, svhnX(5))
		y := e.matrix("y", 6, []int{5, 1}, miUINT8, svhnY) // doubles stored as uint8, as MATLAB does
		b := e.file(x, y)
		if tc.comp {
			b = e.file(e.compressed(x), e.compressed(y))
		}
		p := writeFile(t, dir, "train_32x32.mat", b)
		d, err := LoadSVHN(p)
		if err != nil {
			t.Fatalf("%v: %v", tc, err)
		}
		if d.Name() != "svhn/train_32x32" || d.Len() != 5 || fmt.Sprint(d.Shape()) != "[3 32 32]" {
			t.Fatalf("%s: %d samples of shape %v", d.Name(), d.Len(), d.Shape())
		}
		dst := make([]float32, 3072)
		for i, want := range []int{0, 1, 2, 3, 9} {
			label, err := d.Get(i, dst)
			if err != nil || label != want {
				t.Fatalf("%v: sample %d label %d (%v), want %d", tc, i, label, err, want)
			}
			for _, q := range [][3]int{{0, 0, 0}, {1, 5, 3}, {2, 31, 7}, {2, 6, 31}} {
				ch, r, col := q[0], q[1], q[2]
				if got, want := dst[ch*1024+r*32+col], float32(svhnPixel(r, col, ch, i))/255; got != want {
					t.Errorf("%v: sample %d pixel [%d %d %d] = %v, want %v", tc, i, ch, r, col, got, want)
				}
			}
		}
	}
}

func TestLoadSVHNCorrupt(t *testing.T) {
	dir := t.TempDir()
	e := matEnc{binary.LittleEndian}
	x := e.matrix("X", 9, []int{32, 32, 3, 5}, miUINT8, svhnX(5))
	y := e.matrix("y", 6, []int{5, 1}, miDOUBLE, svhnY)
	cut := e.file(e.compressed(x), y)
	for _, tc := range []struct {
		name  string
		b     []byte
		parts []string
	}{
		{"truncated", cut[:len(cut)-20], []string{"truncated", "offset"}},
		{"noX", e.file(y), []string{`variable "X"`}},
		{"noY", e.file(e.compressed(x)), []string{`variable "y"`}},
		{"count", e.file(x, e.matrix("y", 6, []int{4, 1}, miDOUBLE, svhnY[:4])), []string{`"X" holds 5`, `"y" holds 4`}},
		{"label", e.file(x, e.matrix("y", 6, []int{5, 1}, miDOUBLE, []float64{1, 2, 0, 4, 5})), []string{`"y" element 2`, "label 0"}},
		{"dims", e.file(e.matrix("X", 9, []int{32, 32, 5, 3}, miUINT8, svhnX(5)), y), []string{`"X"`, "[32 32 5 3]"}},
		{"range", e.file(e.matrix("X", 6, []int{2, 2, 1}, miDOUBLE, []float64{0, 1, 256, 3}),
			e.matrix("y", 6, []int{1, 1}, miDOUBLE, []float64{1})), []string{`"X" element 2`, "256"}},
		{"cell", e.file(x, e.matrix("y", 1, []int{5, 1}, miDOUBLE, svhnY)), []string{`variable "y"`, "cell"}},
	} {
		p := writeFile(t, dir, tc.name+".mat", tc.b)
		_, err := LoadSVHN(p)
		wantErr(t, err, append(tc.parts, p)...)
	}
}
