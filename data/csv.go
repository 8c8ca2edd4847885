package data

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// CSVTable is a numeric table read from a delimited text file: Rows×Cols
// values, row-major, and the column names from the header line (nil when
// the file has none).
type CSVTable struct {
	Source string // file name, for errors
	Header []string
	Rows   int
	Cols   int
	Values []float64
}

// At returns the value at row i, column j.
func (t *CSVTable) At(i, j int) float64 { return t.Values[i*t.Cols+j] }

// ReadCSV reads a numeric table from path, gzip-compressed when its name
// ends in .gz; see ParseCSV for the format.
func ReadCSV(path string) (*CSVTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // already names the file
	}
	defer f.Close()
	if strings.HasSuffix(path, ".gz") {
		return parseGzipCSV(f, path)
	}
	return ParseCSV(f, path)
}

// parseGzipCSV is ParseCSV of the gzip stream r.
func parseGzipCSV(r io.Reader, name string) (*CSVTable, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer zr.Close()
	return ParseCSV(zr, name)
}

// ParseCSV reads a numeric table from r; name is used in errors.
//
// Format: one record per line, fields separated by ';' when the first line
// contains one, else by ',' (the UCI wine files exist in both forms).
// Fields are trimmed of spaces and of one pair of surrounding double quotes
// (quoted fields may not contain the separator). The first line is a header
// when none of its fields is a number (a first line mixing names and
// numbers is a data row with a bad number, not a header, so a typo cannot
// silently drop a row); every other line must be all numbers. Blank lines
// are allowed only at the end of the file. Errors name the file, the
// 1-based line and column: a bad or non-finite number, a row whose field
// count differs from the first row's, a file with no data rows.
func ParseCSV(r io.Reader, name string) (*CSVTable, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	t := &CSVTable{Source: name}
	sep := ""
	line := 0
	blankAt := 0 // line of the first blank line seen, 0 if none yet
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" {
			if blankAt == 0 {
				blankAt = line
			}
			continue
		}
		if blankAt != 0 {
			return nil, fmt.Errorf("%s:%d: blank line inside the table", name, blankAt)
		}
		if sep == "" {
			sep = ","
			if strings.Contains(text, ";") {
				sep = ";"
			}
		}
		fields := strings.Split(text, sep)
		for i, f := range fields {
			fields[i] = csvUnquote(strings.TrimSpace(f))
		}
		if t.Cols == 0 {
			t.Cols = len(fields)
			if csvNoNumbers(fields) {
				t.Header = fields
				continue
			}
		} else if len(fields) != t.Cols {
			return nil, fmt.Errorf("%s:%d: %d fields, want %d (as on the first line)", name, line, len(fields), t.Cols)
		}
		for j, f := range fields {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%s:%d: column %d%s: bad number %q", name, line, j+1, t.colName(j), f)
			}
			t.Values = append(t.Values, v)
		}
		t.Rows++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: after line %d: %w", name, line, err)
	}
	if t.Rows == 0 {
		return nil, fmt.Errorf("%s: no data rows (%d lines read)", name, line)
	}
	return t, nil
}

func (t *CSVTable) colName(j int) string {
	if t.Header == nil {
		return ""
	}
	return " (" + t.Header[j] + ")"
}

func csvUnquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

func csvNoNumbers(fields []string) bool {
	for _, f := range fields {
		if _, err := strconv.ParseFloat(f, 64); err == nil {
			return false
		}
	}
	return true
}
