package data

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
)

// uciFiles holds the UCI tables of the DKEF experiments, gzip-compressed
// (source and licence: uci/README.md). Embedding them lets the UCI datasets
// open with no directory, from any working directory and any copy of the
// binary.
//
//go:embed uci/*.csv.gz uci/*.data.gz
var uciFiles embed.FS

// readUCIFile reads the UCI table file (its UCI name, e.g.
// "winequality-red.csv") for dataset: from dir when one is given (the file
// plain, else with .gz added), else the bundled copy.
func readUCIFile(dataset, dir, file string) (*CSVTable, error) {
	if dir == "" {
		return readBundledCSV(path.Join("uci", file+".gz"))
	}
	p := filepath.Join(dir, file)
	t, err := ReadCSV(p)
	if !errors.Is(err, fs.ErrNotExist) {
		return t, err
	}
	t, err = ReadCSV(p + ".gz")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &DirError{Dataset: dataset, Dir: dir, Want: file + " (or " + file + ".gz)"}
	}
	return t, err
}

// readBundledCSV parses one gzip-compressed table of uciFiles.
func readBundledCSV(name string) (*CSVTable, error) {
	f, err := uciFiles.Open(name)
	if err != nil {
		return nil, fmt.Errorf("bundled data: %w", err) // only if the embed patterns and uciSpecs disagree
	}
	defer f.Close()
	return parseGzipCSV(f, "bundled data/"+name)
}
