package npy

import (
	"bytes"
	"strings"
	"testing"
)

// TestReadErrors checks that each kind of bad input gives an error saying
// what is wrong.
func TestReadErrors(t *testing.T) {
	hdr := func(dict string) []byte { return rawFile(1, dict, 64, nil) }
	ok := "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }"
	cases := []struct {
		name string
		file []byte
		want []string
	}{
		{"empty", nil, []string{"too short"}},
		{"bad magic", []byte("\x93NUMPZ\x01\x00\x00\x00"), []string{"bad magic"}},
		{"version 4.0", append([]byte("\x93NUMPY\x04\x00"), 0, 0, 0, 0), []string{"version 4.0", "1.0, 2.0, 3.0"}},
		{"version 1.1", append([]byte("\x93NUMPY\x01\x01"), 0, 0), []string{"version 1.1"}},
		{"no header length", []byte("\x93NUMPY\x01\x00\x05"), []string{"header length"}},
		{"truncated header", append([]byte("\x93NUMPY\x01\x00\x40\x00"), "{'descr'"...), []string{"truncated header", "64", "8"}},
		{"huge header", []byte("\x93NUMPY\x02\x00\xff\xff\xff\xff"), []string{"exceeds the limit"}},
		{"not a dict", hdr("('<f8', False, (2,))"), []string{"malformed header", "not a dict"}},
		{"unclosed", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (2,"), []string{"malformed header"}},
		{"garbage", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), } xyz"), []string{"malformed header", "xyz"}},
		{"missing key", hdr("{'descr': '<f8', 'shape': (2,), }"), []string{"malformed header", "fortran_order"}},
		{"extra key", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'x': 1}"), []string{"malformed header", "keys other than"}},
		{"repeated key", hdr("{'descr': '<f8', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}"), []string{"given twice"}},
		{"shape list", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': [2], }"), []string{"not a tuple"}},
		{"shape int", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (2), }"), []string{"not a tuple"}},
		{"negative dim", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (-2,), }"), []string{"non-negative"}},
		{"huge shape", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }"), []string{"too large"}},
		{"fortran not bool", hdr("{'descr': '<f8', 'fortran_order': 0, 'shape': (2,), }"), []string{"fortran_order"}},
		{"complex", hdr("{'descr': '<c16', 'fortran_order': False, 'shape': (2,), }"), []string{"unsupported dtype", "<c16", "f4"}},
		{"object", hdr("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }"), []string{"unsupported dtype", "|O"}},
		{"string", hdr("{'descr': '<U5', 'fortran_order': False, 'shape': (2,), }"), []string{"unsupported dtype", "<U5"}},
		{"pipe f8", hdr("{'descr': '|f8', 'fortran_order': False, 'shape': (2,), }"), []string{"unsupported dtype", "|f8"}},
		{"structured", hdr("{'descr': [('a', '<f8'), ('b', '<i4')], 'fortran_order': False, 'shape': (2,), }"), []string{"structured"}},
		{"truncated data", rawFile(1, ok, 64, make([]byte, 12)), []string{"truncated data", "needs 16 bytes", "got 12"}},
		{"deep nesting", hdr(strings.Repeat("(", 100)), []string{"nested deeper"}},
		{"int overflow", hdr("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,), }"), []string{"bad integer"}},
	}
	for _, c := range cases {
		_, err := Read(bytes.NewReader(c.file))
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, w)
			}
		}
	}
}

func TestWriteErrors(t *testing.T) {
	var b bytes.Buffer
	for _, c := range []struct {
		name  string
		shape []int
		data  []float64
		dtype string
		want  string
	}{
		{"dtype", []int{1}, []float64{1}, "<i4", "cannot write dtype"},
		{"count", []int{2, 2}, []float64{1}, Float64, "1 values for shape [2 2]"},
		{"negative", []int{-1}, nil, Float64, "negative"},
	} {
		if err := Write(&b, c.shape, c.data, c.dtype); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
}
