package data

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
)

// uciDir "" selects the UCI tables bundled with fdsm (data/uci).
const uciDir = ""

func TestUCISplitSizes(t *testing.T) {
	for _, c := range []struct{ n, train, val, test int }{
		{1599, 1296, 144, 159}, // red wine
		{4898, 3969, 440, 489}, // white wine
		{5875, 4760, 528, 587}, // parkinsons
		{30000, 28000, 1000, 1000},
		{9, 9, 0, 0},
	} {
		tr, va, te := UCISplitSizes(c.n)
		if tr != c.train || va != c.val || te != c.test {
			t.Errorf("UCISplitSizes(%d) = %d/%d/%d, want %d/%d/%d", c.n, tr, va, te, c.train, c.val, c.test)
		}
	}
}

func TestUCILoad(t *testing.T) {
	parkCols := []string{"test_time", "motor_UPDRS", "total_UPDRS", "Jitter(Abs)", "Jitter:PPQ5",
		"Jitter:DDP", "Shimmer(dB)", "Shimmer:APQ5", "Shimmer:APQ11", "Shimmer:DDA", "NHR", "HNR",
		"RPDE", "DFA", "PPE"}
	for _, c := range []struct {
		name            string
		n, d            int
		train, val, tst int
	}{
		{"redwine", 1599, 11, 1296, 144, 159},
		{"whitewine", 4898, 11, 3969, 440, 489},
		{"parkinsons", 5875, 15, 4760, 528, 587},
	} {
		s, err := LoadUCI(c.name, uciDir, 1)
		if err != nil {
			t.Fatal(err)
		}
		if s.Train.Len() != c.train || s.Val.Len() != c.val || s.Test.Len() != c.tst {
			t.Errorf("%s: splits %d/%d/%d, want %d/%d/%d", c.name, s.Train.Len(), s.Val.Len(), s.Test.Len(), c.train, c.val, c.tst)
		}
		if len(s.Columns) != c.d || !slices.Equal(s.Train.Shape(), []int{c.d}) {
			t.Errorf("%s: %d columns %v, shape %v, want %d", c.name, len(s.Columns), s.Columns, s.Train.Shape(), c.d)
		}
		if c.name == "parkinsons" && !slices.Equal(s.Columns, parkCols) {
			t.Errorf("parkinsons columns %v, want %v", s.Columns, parkCols)
		}
		if c.name != "parkinsons" && slices.Contains(s.Columns, "quality") {
			t.Errorf("%s keeps quality", c.name)
		}
		for _, m := range []*InMemory{s.Train, s.Val, s.Test} {
			for _, v := range m.Values() {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("%s: non-finite value", m.Name())
				}
			}
		}
		// Whitened plus N(0, 0.05²) noise: covariance ≈ (1+0.0025)·I, up to
		// the noise's own sampling error (loose bound).
		mean, cov := uciMoments(uciF64(s.Train.Values()), c.d)
		for a := range c.d {
			if math.Abs(mean[a]) > 0.015 {
				t.Errorf("%s: train mean[%d] = %g", c.name, a, mean[a])
			}
			for b := range c.d {
				want := 0.0
				if a == b {
					want = 1 + UCINoiseStd*UCINoiseStd
				}
				if math.Abs(cov[a*c.d+b]-want) > 0.015 {
					t.Errorf("%s: train cov[%d,%d] = %g, want ≈ %g", c.name, a, b, cov[a*c.d+b], want)
				}
			}
		}
	}
}

func TestUCIWhiteningExact(t *testing.T) {
	for _, name := range UCINames() {
		x, n, d, _, err := loadUCITable(name, uciDir, 3)
		if err != nil {
			t.Fatal(err)
		}
		ntrain, _, _ := UCISplitSizes(n)
		w, err := FitPCAWhitening(x[:ntrain*d], ntrain, d)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.IsSortedFunc(w.Eigenvalues, func(a, b float64) int { return -uciCmp(a, b) }) {
			t.Errorf("%s: eigenvalues not descending: %v", name, w.Eigenvalues)
		}
		y, err := w.Apply(x[:ntrain*d])
		if err != nil {
			t.Fatal(err)
		}
		// Exact up to float64 rounding, amplified by the spread of the raw
		// column scales (eigenvalue ratios up to ~1e10): errors ~1e-8, far
		// below the float32 resolution (6e-8) of the datasets.
		mean, cov := uciMoments(y, d)
		for a := range d {
			if math.Abs(mean[a]) > 1e-9 {
				t.Errorf("%s: whitened mean[%d] = %g", name, a, mean[a])
			}
			for b := range d {
				want := 0.0
				if a == b {
					want = 1
				}
				if math.Abs(cov[a*d+b]-want) > 1e-6 {
					t.Errorf("%s: whitened cov[%d,%d] = %g, want %g", name, a, b, cov[a*d+b], want)
				}
			}
		}
	}
}

func uciCmp(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// The wine dequantisation noise is uniform in [-gap, gap], gap the median
// distinct-value gap of the raw column.
func TestUCIDequantise(t *testing.T) {
	raw, err := readUCIFile("redwine", uciDir, "winequality-red.csv")
	if err != nil {
		t.Fatal(err)
	}
	x, n, d, _, err := loadUCITable("redwine", uciDir, 5)
	if err != nil {
		t.Fatal(err)
	}
	rawx := make([]float64, n*d)
	for i := range n {
		for j := range d {
			rawx[i*d+j] = raw.At(i, j)
		}
	}
	for j := range d {
		g, _ := medianGap(rawx, n, d, j)
		lo, hi := 0.0, 0.0
		for i := range n {
			e := x[i*d+j] - rawx[i*d+j]
			lo, hi = min(lo, e), max(hi, e)
		}
		// The extremes of 1599 uniform draws come within 1% of ±gap.
		if lo < -g*(1+1e-12) || hi > g*(1+1e-12) || lo > -0.99*g || hi < 0.99*g {
			t.Errorf("column %d: noise in [%g, %g], gap %g", j, lo, hi, g)
		}
	}
}

func TestUCIDeterministic(t *testing.T) {
	a, err := LoadUCI("redwine", uciDir, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := LoadUCI("redwine", uciDir, 7)
	c, _ := LoadUCI("redwine", uciDir, 8)
	if !slices.Equal(a.Test.Values(), b.Test.Values()) || !slices.Equal(a.Train.Values(), b.Train.Values()) {
		t.Error("same seed, different data")
	}
	if slices.Equal(a.Val.Values(), c.Val.Values()) {
		t.Error("different seeds, same data")
	}
}

func TestUCIErrors(t *testing.T) {
	_, err := LoadUCI("iris", uciDir, 1)
	if err == nil || !strings.Contains(err.Error(), "redwine, whitewine") {
		t.Errorf("unknown name: %v", err)
	}
	dir := t.TempDir()
	if _, err := LoadUCI("redwine", dir, 1); err == nil || !strings.Contains(err.Error(), "winequality-red.csv") {
		t.Errorf("missing file: %v", err)
	}
	uciWrite(t, dir, "winequality-red.csv", "1,2,3\n4,5,6\n")
	if _, err := LoadUCI("redwine", dir, 1); err == nil || !strings.Contains(err.Error(), "3 columns, want 12") {
		t.Errorf("wrong column count: %v", err)
	}
	uciWrite(t, dir, "parkinsons_updrs.data", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u,v\n"+strings.Repeat("1,", 21)+"1\n")
	if _, err := LoadUCI("parkinsons", dir, 1); err == nil || !strings.Contains(err.Error(), "subject#") {
		t.Errorf("wrong header: %v", err)
	}
}

func TestPCAWhiteningSingular(t *testing.T) {
	// Column 2 = column 0 + column 1: rank 2.
	x := []float64{1, 2, 3, 2, 1, 3, 0, 5, 5, 4, 4, 8}
	if _, err := FitPCAWhitening(x, 4, 3); err == nil || !strings.Contains(err.Error(), "singular") {
		t.Errorf("singular covariance: %v", err)
	}
	if _, err := FitPCAWhitening(x[:3], 1, 3); err == nil {
		t.Error("one row accepted")
	}
}

func TestCSVParse(t *testing.T) {
	dir := t.TempDir()
	p := uciWrite(t, dir, "h.csv", "\"a\"; \"b\"\r\n1;2.5e-005\r\n-3;4\r\n\r\n")
	tb, err := ReadCSV(p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tb.Header, []string{"a", "b"}) || tb.Rows != 2 || tb.Cols != 2 ||
		!slices.Equal(tb.Values, []float64{1, 2.5e-5, -3, 4}) {
		t.Errorf("parsed %+v", tb)
	}
	tb, err = ReadCSV(uciWrite(t, dir, "n.csv", "1,2\n3,4"))
	if err != nil || tb.Header != nil || tb.Rows != 2 {
		t.Errorf("headerless: %+v, %v", tb, err)
	}
	for _, c := range []struct{ name, text, want string }{
		{"bad.csv", "x,y\n1,2\n3,zz\n", "bad.csv:3: column 2 (y): bad number \"zz\""},
		{"bad1.csv", "1,oops\n", "bad1.csv:1: column 2: bad number"},
		{"nan.csv", "1,NaN\n", "nan.csv:1: column 2: bad number"},
		{"ragged.csv", "1,2\n3,4,5\n", "ragged.csv:2: 3 fields, want 2"},
		{"empty.csv", "", "empty.csv: no data rows"},
		{"header.csv", "a,b\n", "header.csv: no data rows"},
		{"blank.csv", "1,2\n\n3,4\n", "blank.csv:2: blank line"},
	} {
		_, err := ReadCSV(uciWrite(t, dir, c.name, c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want error containing %q", c.name, err, c.want)
		}
	}
	if _, err := ReadCSV(filepath.Join(dir, "missing.csv")); err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("missing file: %v", err)
	}
}

func uciWrite(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func uciF64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// sampleMoments returns the mean and the population covariance (d×d) of
// the rows of x.
func uciMoments(x []float64, d int) (mean, cov []float64) {
	n := len(x) / d
	mean, cov = make([]float64, d), make([]float64, d*d)
	for i := range n {
		for a := range d {
			mean[a] += x[i*d+a] / float64(n)
		}
	}
	for i := range n {
		for a := range d {
			for b := range d {
				cov[a*d+b] += (x[i*d+a] - mean[a]) * (x[i*d+b] - mean[b]) / float64(n)
			}
		}
	}
	return mean, cov
}

// TestShuffleRows: a seeded permutation of whole rows (every row kept once,
// order changed, same seed same order).
func TestShuffleRows(t *testing.T) {
	const n, d = 50, 3
	x := make([]float64, n*d)
	for i := range x {
		x[i] = float64(i/d*10 + i%d)
	}
	a := shuffleRows(x, n, d, tensor.NewRNG(1))
	b := shuffleRows(x, n, d, tensor.NewRNG(1))
	seen, moved := map[float64]bool{}, false
	for r := 0; r < n; r++ {
		row := a[r*d]
		if a[r*d+1] != row+1 || a[r*d+2] != row+2 {
			t.Fatalf("row %d split apart: %v", r, a[r*d:r*d+3])
		}
		seen[row], moved = true, moved || row != x[r*d]
		if b[r*d] != row {
			t.Fatal("same seed, different order")
		}
	}
	if len(seen) != n || !moved {
		t.Fatalf("%d distinct rows, moved %v", len(seen), moved)
	}
}
