package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// idxBytes encodes an IDX file per the format: 00 00 type ndims, the
// big-endian uint32 dimensions, then the big-endian elements.
func idxBytes(typ byte, shape []int, vals []float64) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, typ, byte(len(shape))})
	for _, d := range shape {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	for _, v := range vals {
		switch typ {
		case IDXUint8:
			b.WriteByte(byte(v))
		case IDXInt8:
			b.WriteByte(byte(int8(v)))
		case IDXInt16:
			binary.Write(&b, binary.BigEndian, int16(v))
		case IDXInt32:
			binary.Write(&b, binary.BigEndian, int32(v))
		case IDXFloat32:
			binary.Write(&b, binary.BigEndian, float32(v))
		case IDXFloat64:
			binary.Write(&b, binary.BigEndian, v)
		}
	}
	return b.Bytes()
}

func gzipBytes(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// wantErr fails unless err is non-nil and mentions every part.
func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func TestReadIDXTypes(t *testing.T) {
	dir := t.TempDir()
	vals := []float64{0, 1, 2, 100, 7, 5}
	signed := []float64{-3, 1, -128, 100, 7, -5}
	for _, tc := range []struct {
		typ  byte
		vals []float64
	}{
		{IDXUint8, []float64{0, 1, 2, 255, 7, 5}}, {IDXInt8, signed}, {IDXInt16, []float64{-30000, 1, 2, 30000, 7, 5}},
		{IDXInt32, []float64{-1 << 20, 1, 2, 1 << 20, 7, 5}}, {IDXFloat32, []float64{0.5, -1.25, 2, 3, 4, 1e-3}},
		{IDXFloat64, vals},
	} {
		raw := idxBytes(tc.typ, []int{2, 3}, tc.vals)
		for _, gz := range []bool{false, true} {
			b := raw
			if gz {
				b = gzipBytes(raw)
			}
			p := writeFile(t, dir, "a.idx", b)
			a, err := ReadIDX(p)
			if err != nil {
				t.Fatalf("type %#x gzip %v: %v", tc.typ, gz, err)
			}
			if a.Type != tc.typ || len(a.Shape) != 2 || a.Shape[0] != 2 || a.Shape[1] != 3 {
				t.Fatalf("type %#x: got type %#x shape %v", tc.typ, a.Type, a.Shape)
			}
			for i, v := range tc.vals {
				if a.Data[i] != float32(v) {
					t.Errorf("type %#x gzip %v: element %d = %v, want %v", tc.typ, gz, i, a.Data[i], v)
				}
			}
		}
	}
}

func TestReadIDXCorrupt(t *testing.T) {
	dir := t.TempDir()
	good := idxBytes(IDXUint8, []int{2, 3}, []float64{1, 2, 3, 4, 5, 6})
	badCRC := gzipBytes(good)
	badCRC[len(badCRC)-6] ^= 0xff // the CRC-32 sits 8 bytes from the end
	for _, tc := range []struct {
		name  string
		b     []byte
		parts []string
	}{
		{"magic", append([]byte{1, 0}, good[2:]...), []string{"magic", "offset 0"}},
		{"type", append([]byte{0, 0, 0x07}, good[3:]...), []string{"element type 0x07", "offset 2"}},
		{"nodims", []byte{0, 0, 8, 0}, []string{"no dimensions"}},
		{"header", good[:2], []string{"truncated", "magic"}},
		{"dims", good[:9], []string{"truncated", "dimensions", "offset 4"}},
		{"data", good[:len(good)-2], []string{"truncated", "offset"}},
		{"data.gz", gzipBytes(good[:len(good)-2]), []string{"truncated", "offset 16", "decompressed"}},
		{"huge", idxBytes(IDXFloat64, []int{1 << 30, 1 << 30, 1 << 30}, nil), []string{"truncated", "offset 16"}},
		{"trailing", append(append([]byte{}, good...), 9), []string{"trailing", "offset 18"}},
		{"crc.gz", badCRC, []string{"checksum"}},
		{"gzheader", []byte{0x1f, 0x8b, 0, 0}, []string{"gzip"}},
	} {
		p := writeFile(t, dir, tc.name, tc.b)
		_, err := ReadIDX(p)
		wantErr(t, err, append(tc.parts, p)...)
	}
	_, err := ReadIDX(filepath.Join(dir, "missing"))
	wantErr(t, err, "missing")
}

func TestLoadIDXImages(t *testing.T) {
	dir := t.TempDir()
	pix := make([]float64, 3*2*4)
	for i := range pix {
		pix[i] = float64(i * 10)
	}
	img := writeFile(t, dir, "img.gz", gzipBytes(idxBytes(IDXUint8, []int{3, 2, 4}, pix)))
	lab := writeFile(t, dir, "lab", idxBytes(IDXUint8, []int{3}, []float64{7, 0, 9}))
	d, err := LoadIDXImages(img, lab, "toy/train")
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 3 || d.Name() != "toy/train" || len(d.Shape()) != 3 || d.Shape()[0] != 1 || d.Shape()[1] != 2 || d.Shape()[2] != 4 {
		t.Fatalf("got %s len %d shape %v", d.Name(), d.Len(), d.Shape())
	}
	dst := make([]float32, 8)
	l, err := d.Get(2, dst)
	if err != nil || l != 9 {
		t.Fatalf("Get(2): label %d err %v", l, err)
	}
	for j, v := range dst {
		if want := float32(pix[16+j]) / 255; v != want {
			t.Errorf("pixel %d = %v, want %v", j, v, want)
		}
	}

	short := writeFile(t, dir, "short", idxBytes(IDXUint8, []int{2}, []float64{1, 2}))
	_, err = LoadIDXImages(img, short, "x")
	wantErr(t, err, img, short, "3 images", "2 labels")
	flt := writeFile(t, dir, "flt", idxBytes(IDXFloat32, []int{3, 2, 4}, pix))
	_, err = LoadIDXImages(flt, lab, "x")
	wantErr(t, err, flt, "uint8")
	_, err = LoadIDXImages(img, img, "x")
	wantErr(t, err, img, "labels")
}

func FuzzReadIDX(f *testing.F) {
	good := idxBytes(IDXInt16, []int{2, 2}, []float64{1, -2, 3, 4})
	f.Add(good)
	f.Add(gzipBytes(good))
	f.Add(idxBytes(IDXFloat64, []int{1, 0, 5}, nil))
	f.Add([]byte{0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeIDX(bytes.NewReader(b), "fuzz", int64(len(b)))
		if err == nil {
			n := 1
			for _, d := range a.Shape {
				n *= d
			}
			if n != len(a.Data) {
				t.Fatalf("shape %v but %d values", a.Shape, len(a.Data))
			}
		} else if !strings.Contains(err.Error(), "fuzz") {
			t.Fatalf("error %q does not name the input", err)
		}
	})
}
