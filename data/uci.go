package data

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/fdsm-go/fdsm/tensor"
)

// UCINoiseStd is the standard deviation of the Gaussian noise added to every
// whitened split, as in the DKEF reference code (paper-code-facts.md §3).
const UCINoiseStd = 0.05

// UCICorrThreshold is the |correlation| above which Parkinsons columns are
// dropped.
const UCICorrThreshold = 0.98

// UCISplits holds the three splits of a preprocessed UCI table.
type UCISplits struct {
	Train, Val, Test *InMemory
	// Columns names the input columns kept, in order, before whitening.
	// The dataset dimensions are the principal components of these
	// (largest variance first), not the columns themselves.
	Columns []string
	// Whitening is the transform fitted on the training split.
	Whitening *PCAWhitening
}

type uciSpec struct {
	file  string
	ncols int      // fields per row in the file
	names []string // column names when the file has no header
}

var wineColumns = []string{"fixed acidity", "volatile acidity", "citric acid", "residual sugar",
	"chlorides", "free sulfur dioxide", "total sulfur dioxide", "density", "pH", "sulphates",
	"alcohol", "quality"}

var uciSpecs = map[string]uciSpec{
	"redwine":    {"winequality-red.csv", 12, wineColumns},
	"whitewine":  {"winequality-white.csv", 12, wineColumns},
	"parkinsons": {"parkinsons_updrs.data", 22, nil},
}

// UCINames lists the names LoadUCI accepts.
func UCINames() []string { return []string{"parkinsons", "redwine", "whitewine"} }

// UCISplitSizes returns the split sizes for a table of n rows, with integer
// division as in the reference code: test = min(1000, n/10) (the last rows),
// val = min(1000, (n-test)/10) (the rows before them), train = the rest
// (the first rows). Red wine: 1296/144/159; white wine: 3969/440/489;
// Parkinsons: 4760/528/587.
func UCISplitSizes(n int) (train, val, test int) {
	test = min(1000, n/10)
	val = min(1000, (n-test)/10)
	return n - test - val, val, test
}

// LoadUCI reads and preprocesses one of the DKEF UCI tables ("redwine",
// "whitewine", "parkinsons"; see UCINames): the copy bundled with fdsm when
// dir is "", else from dir, which holds the UCI files under their original
// names, plain or gzip-compressed (name.gz). seed fixes the dequantisation
// and noise draws. The steps, in order:
//
//  1. Columns. Wine: the 11 inputs (drop "quality", the last column).
//     Parkinsons: drop subject#, age and sex (the reference keeps columns
//     from the 4th on, so test_time, motor_UPDRS and total_UPDRS stay, with
//     the 16 voice measures: 19 columns), then drop correlated columns as
//     dropCorrelated describes (computed on all rows, as the reference does
//     before splitting). On the UCI file this drops Jitter(%), Jitter:RAP,
//     Shimmer and Shimmer:APQ3, leaving 15 columns (the DKEF paper's D=15):
//     test_time, motor_UPDRS, total_UPDRS, Jitter(Abs), Jitter:PPQ5,
//     Jitter:DDP, Shimmer(dB), Shimmer:APQ5, Shimmer:APQ11, Shimmer:DDA,
//     NHR, HNR, RPDE, DFA, PPE.
//  2. Wine only: dequantise each column, x += (2U-1)·g with U ~ U(0,1) and
//     g the median gap between consecutive distinct sorted values of that
//     column: uniform noise in [-g, g], the reference code's reading of
//     "±U·gap". Done on all rows before splitting, as there.
//  3. Shuffle the rows with the seed (stream 4), as the reference code does
//     before splitting (the Parkinsons file is sorted by subject, so file
//     order would give the test split only the last subjects), then split by
//     position (see UCISplitSizes).
//  4. Fit PCA whitening on the training split only and apply it to all
//     three (the reference fits on all rows).
//  5. Add N(0, 0.05²) noise once to each split, from its own seeded stream.
func LoadUCI(name, dir string, seed uint64) (*UCISplits, error) {
	x, n, d, cols, err := loadUCITable(name, dir, seed)
	if err != nil {
		return nil, err
	}
	x = shuffleRows(x, n, d, tensor.NewRNG(seed).Split(4))
	ntrain, nval, _ := UCISplitSizes(n)
	if ntrain <= d {
		return nil, fmt.Errorf("%s: %d training rows cannot whiten %d columns", name, ntrain, d)
	}
	w, err := FitPCAWhitening(x[:ntrain*d], ntrain, d)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	white, err := w.Apply(x)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	out := &UCISplits{Columns: cols, Whitening: w}
	root := tensor.NewRNG(seed)
	bounds := []int{0, ntrain, ntrain + nval, n}
	for s, dst := range []**InMemory{&out.Train, &out.Val, &out.Test} {
		rng := root.Split(uint64(1 + s)) // stream 0 is the dequantisation
		part := white[bounds[s]*d : bounds[s+1]*d]
		v := make([]float32, len(part))
		for i, p := range part {
			v[i] = float32(p + UCINoiseStd*rng.NormFloat64())
		}
		m, err := NewInMemory(name+"/"+[]string{"train", "val", "test"}[s], []int{d}, v, nil)
		if err != nil {
			return nil, err
		}
		*dst = m
	}
	return out, nil
}

// shuffleRows returns the n×d rows of x in a random order (Fisher-Yates).
func shuffleRows(x []float64, n, d int, rng *tensor.RNG) []float64 {
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := rng.IntN(i + 1)
		perm[i], perm[j] = perm[j], perm[i]
	}
	out := make([]float64, len(x))
	for i, p := range perm {
		copy(out[i*d:(i+1)*d], x[p*d:(p+1)*d])
	}
	return out
}

// loadUCITable does steps 1 and 2 of LoadUCI: it returns the n×d table
// (row-major, file order) and the names of its columns.
func loadUCITable(name, dir string, seed uint64) (x []float64, n, d int, cols []string, err error) {
	spec, ok := uciSpecs[name]
	if !ok {
		return nil, 0, 0, nil, fmt.Errorf("unknown UCI dataset %q (valid: %s)", name, strings.Join(UCINames(), ", "))
	}
	t, err := readUCIFile(name, dir, spec.file)
	if err != nil {
		return nil, 0, 0, nil, err
	}
	path := t.Source
	if t.Cols != spec.ncols {
		return nil, 0, 0, nil, fmt.Errorf("%s: %d columns, want %d for %s", path, t.Cols, spec.ncols, name)
	}
	header := t.Header
	if header == nil {
		header = spec.names
	}
	var keep []int
	if name == "parkinsons" {
		if header == nil || header[0] != "subject#" || header[1] != "age" || header[2] != "sex" {
			return nil, 0, 0, nil, fmt.Errorf("%s:1: header does not start with subject#,age,sex", path)
		}
		for j := 3; j < t.Cols; j++ {
			keep = append(keep, j)
		}
		keep = dropCorrelated(t, keep, UCICorrThreshold)
	} else {
		if header[t.Cols-1] != "quality" {
			return nil, 0, 0, nil, fmt.Errorf("%s:1: last column is %q, want quality", path, header[t.Cols-1])
		}
		for j := 0; j < t.Cols-1; j++ {
			keep = append(keep, j)
		}
	}
	n, d = t.Rows, len(keep)
	x = make([]float64, n*d)
	for i := range n {
		for k, j := range keep {
			x[i*d+k] = t.At(i, j)
		}
	}
	for _, j := range keep {
		cols = append(cols, header[j])
	}
	if name != "parkinsons" {
		rng := tensor.NewRNG(seed).Split(0)
		for k := range d {
			g, err := medianGap(x, n, d, k)
			if err != nil {
				return nil, 0, 0, nil, fmt.Errorf("%s: column %d (%s): %w", path, keep[k]+1, cols[k], err)
			}
			for i := range n {
				x[i*d+k] += (2*rng.Float64() - 1) * g
			}
		}
	}
	return x, n, d, cols, nil
}

// medianGap returns the median of the gaps between consecutive distinct
// sorted values of column k (the mean of the two middle gaps when their
// count is even).
func medianGap(x []float64, n, d, k int) (float64, error) {
	v := make([]float64, n)
	for i := range n {
		v[i] = x[i*d+k]
	}
	slices.Sort(v)
	v = slices.Compact(v)
	if len(v) < 2 {
		return 0, fmt.Errorf("constant column, no gap to dequantise with")
	}
	gaps := make([]float64, len(v)-1)
	for i := range gaps {
		gaps[i] = v[i+1] - v[i]
	}
	slices.Sort(gaps)
	m := len(gaps) / 2
	if len(gaps)%2 == 1 {
		return gaps[m], nil
	}
	return (gaps[m-1] + gaps[m]) / 2, nil
}

// dropCorrelated returns cols less correlated columns, following the
// reference code: while some column has |Pearson correlation| > thresh with
// another, remove the first such column (in file order) and recompute.
// Of a correlated pair this keeps the later column.
func dropCorrelated(t *CSVTable, cols []int, thresh float64) []int {
	cols = slices.Clone(cols)
	for {
		drop := -1
	search:
		for a := range cols {
			for b := range cols {
				if a != b && math.Abs(correlation(t, cols[a], cols[b])) > thresh {
					drop = a
					break search
				}
			}
		}
		if drop < 0 {
			return cols
		}
		cols = slices.Delete(cols, drop, drop+1)
	}
}

// correlation returns the Pearson correlation of columns a and b of t (0
// when either is constant, so a constant column is never "correlated").
func correlation(t *CSVTable, a, b int) float64 {
	var ma, mb float64
	for i := range t.Rows {
		ma += t.At(i, a)
		mb += t.At(i, b)
	}
	ma /= float64(t.Rows)
	mb /= float64(t.Rows)
	var sab, saa, sbb float64
	for i := range t.Rows {
		da, db := t.At(i, a)-ma, t.At(i, b)-mb
		sab += da * db
		saa += da * da
		sbb += db * db
	}
	if saa == 0 || sbb == 0 {
		return 0
	}
	return sab / math.Sqrt(saa*sbb)
}
