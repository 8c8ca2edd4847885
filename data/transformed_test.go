package data

import "testing"

func TestWithTransforms(t *testing.T) {
	d, err := NewInMemory("sq", []int{1, 2, 2}, []float32{1, 2, 3, 4, 5, 6, 7, 8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if same, _ := WithTransforms(d, nil, 0); same != Dataset(d) {
		t.Error("empty chain should return the dataset itself")
	}
	ts, err := ParseTransforms([]string{"pad:4"})
	if err != nil {
		t.Fatal(err)
	}
	w, err := WithTransforms(d, ts, 1)
	if err != nil {
		t.Fatal(err)
	}
	if s := w.Shape(); len(s) != 3 || s[1] != 4 || s[2] != 4 {
		t.Fatalf("shape %v", s)
	}
	dst := make([]float32, 16)
	if _, err := w.Get(1, dst); err != nil {
		t.Fatal(err)
	}
	// centred 2x2 in 4x4: rows 1-2, columns 1-2
	want := []float32{0, 0, 0, 0, 0, 5, 6, 0, 0, 7, 8, 0, 0, 0, 0, 0}
	for i := range want {
		if dst[i] != want[i] {
			t.Fatalf("padded sample %v, want %v", dst, want)
		}
	}
	bad, _ := ParseTransforms([]string{"pad:1"})
	if _, err := WithTransforms(d, bad, 1); err == nil {
		t.Error("padding to a smaller size accepted")
	}
}
