package npy

import (
	"bytes"
	"math"
	"testing"
)

// FuzzRead checks that Read never panics and that whatever it accepts
// writes back as float64 and reads again to the same values (bit for bit,
// so NaN payloads count).
func FuzzRead(f *testing.F) {
	f.Add(golden2x3)
	f.Add(golden3f4)
	f.Add(rawFile(1, "{'descr': '>f4', 'fortran_order': True, 'shape': (2, 2), }", 64, make([]byte, 16)))
	f.Add(rawFile(3, "{'descr': '|u1', 'fortran_order': False, 'shape': (3L,)}", 16, []byte{1, 2, 3}))
	f.Add(rawFile(2, "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (), }", 64, nil))
	f.Add([]byte("\x93NUMPY\x01\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		if len(a.Data) != a.Numel() {
			t.Fatalf("%d values for shape %v", len(a.Data), a.Shape)
		}
		var out bytes.Buffer
		if err := Write(&out, a.Shape, a.Data, Float64); err != nil {
			t.Fatal(err)
		}
		back, err := Read(&out)
		if err != nil {
			t.Fatal(err)
		}
		for i := range a.Data {
			if math.Float64bits(a.Data[i]) != math.Float64bits(back.Data[i]) {
				t.Fatalf("[%d]: %v became %v", i, a.Data[i], back.Data[i])
			}
		}
	})
}
