package data

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// uciSHA256 are the SHA-256 sums of the UCI files as published (also in
// uci/README.md).
var uciSHA256 = map[string]string{
	"winequality-red.csv":    "c9614512e980f1cbd221c796daa97f00c4898c3cd1716863abac60f6cd1a522e",
	"winequality-white.csv":  "659d419fff887f225bf977d20520bb64a64cae203e460087f809721d4430ba27",
	"winequality.names":      "15d215e73b39105952380fd487e4ce1bf5a6b83a425abb285c2ec55193d3ca92",
	"parkinsons_updrs.data":  "f2c7d5025dec4e92e7feae367a5f7ccf58789a10ac6b54bdf15976c599f9dd39",
	"parkinsons_updrs.names": "744dc2835eab5c0fc744c638e5e6b05e656788f60f8aa2aba9d48e21c629f7c2",
}

// gunzipFile returns the decompressed contents of a gzip file on disk.
func gunzipFile(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

// TestUCIBundledChecksums: every bundled file decompresses to the published
// bytes, and the embedded copies are the files in uci/.
func TestUCIBundledChecksums(t *testing.T) {
	for file, want := range uciSHA256 {
		b := gunzipFile(t, filepath.Join("uci", file+".gz"))
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("uci/%s.gz decompresses to sha256 %s, want %s", file, got, want)
		}
	}
	for _, spec := range uciSpecs {
		embedded, err := uciFiles.ReadFile("uci/" + spec.file + ".gz")
		if err != nil {
			t.Fatalf("%s not embedded: %v", spec.file, err)
		}
		disk, err := os.ReadFile(filepath.Join("uci", spec.file+".gz"))
		if err != nil || !bytes.Equal(embedded, disk) {
			t.Errorf("embedded %s differs from uci/%s.gz (%v)", spec.file, spec.file, err)
		}
	}
}

// TestUCIBundledMatchesShared: the bundled files are byte-identical, after
// gunzip, to the shared copy of the UCI files where one is at hand.
func TestUCIBundledMatchesShared(t *testing.T) {
	var shared string
	for _, d := range []string{"../../shared/data/uci", "/work/shared/data/uci"} {
		if _, err := os.Stat(filepath.Join(d, "winequality-red.csv")); err == nil {
			shared = d
			break
		}
	}
	if shared == "" {
		t.Skip("no shared copy of the UCI files here")
	}
	for file := range uciSHA256 {
		want, err := os.ReadFile(filepath.Join(shared, file))
		if err != nil {
			t.Fatal(err)
		}
		if got := gunzipFile(t, filepath.Join("uci", file+".gz")); !bytes.Equal(got, want) {
			t.Errorf("uci/%s.gz does not decompress to %s", file, filepath.Join(shared, file))
		}
	}
}

// TestUCIDirPlainAndGzip: an explicit directory wins over the bundled
// copies and may hold the files plain or gzip-compressed.
func TestUCIDirPlainAndGzip(t *testing.T) {
	want, err := LoadUCI("redwine", "", 2)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := os.ReadFile(filepath.Join("uci", "winequality-red.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	gzDir, plainDir := t.TempDir(), t.TempDir()
	uciWrite(t, gzDir, "winequality-red.csv.gz", string(gz))
	uciWrite(t, plainDir, "winequality-red.csv", string(gunzipFile(t, filepath.Join("uci", "winequality-red.csv.gz"))))
	for _, dir := range []string{gzDir, plainDir} {
		got, err := LoadUCI("redwine", dir, 2)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		if !slices.Equal(got.Train.Values(), want.Train.Values()) {
			t.Errorf("%s: data differ from the bundled copy", dir)
		}
	}
	// The plain file is preferred; a changed one shows the directory won.
	uciWrite(t, plainDir, "winequality-red.csv", "1,2,3\n")
	if _, err := LoadUCI("redwine", plainDir, 2); err == nil || !strings.Contains(err.Error(), "3 columns, want 12") {
		t.Errorf("explicit directory not read: %v", err)
	}
}

// TestUCIDirMissingFile: a directory without the file names the dataset,
// the directory, both spellings looked for and the caller's advice.
func TestUCIDirMissingFile(t *testing.T) {
	dir := t.TempDir()
	_, err := Open("redwine-val", OpenOptions{DataDir: dir, DirHint: "--data-dir DIR"})
	var de *DirError
	if !errors.As(err, &de) {
		t.Fatalf("got %v, want a DirError", err)
	}
	for _, want := range []string{"redwine", dir, "winequality-red.csv", "winequality-red.csv.gz", "--data-dir DIR"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	uciWrite(t, dir, "winequality-red.csv.gz", "not gzip")
	if _, err := LoadUCI("redwine", dir, 1); err == nil || !strings.Contains(err.Error(), "winequality-red.csv.gz") {
		t.Errorf("corrupt .gz: %v", err)
	}
}

// TestOpenUCIFromAnyDir: the UCI datasets open with no directory from any
// working directory (what `fdsm data info redwine` does).
func TestOpenUCIFromAnyDir(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, c := range []struct {
		name string
		n    int
	}{{"redwine", 1296}, {"whitewine-val", 440}, {"parkinsons-test", 587}} {
		d, err := Open(c.name, OpenOptions{Seed: 1})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if d.Len() != c.n {
			t.Errorf("%s: %d samples, want %d", c.name, d.Len(), c.n)
		}
	}
}

// TestCIFAR10DirError: CIFAR-10 is not shipped; the error names the dataset
// and the files wanted, and advises only what the caller says.
func TestCIFAR10DirError(t *testing.T) {
	_, err := Open("cifar10", OpenOptions{})
	var de *DirError
	if !errors.As(err, &de) || de.Dir != "" {
		t.Fatalf("no directory: got %v, want a DirError", err)
	}
	for _, want := range []string{"cifar10", "not shipped", "data_batch_1.bin", "test_batch.bin"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "--") {
		t.Errorf("%q names a flag though the caller gave no hint", err)
	}
	if err := CheckDir("CIFAR10-test", OpenOptions{DirHint: "--set data.dir=DIR"}); err == nil || !strings.Contains(err.Error(), "--set data.dir=DIR") {
		t.Errorf("CheckDir with a hint: %v", err)
	}
	for _, ok := range []struct {
		name string
		o    OpenOptions
	}{{"cifar10", OpenOptions{DataDir: "/x"}}, {"mnist", OpenOptions{}}, {"redwine", OpenOptions{}}, {"toy:rings2d", OpenOptions{}}} {
		if err := CheckDir(ok.name, ok.o); err != nil {
			t.Errorf("CheckDir(%s, %+v) = %v, want nil", ok.name, ok.o, err)
		}
	}
	dir := t.TempDir()
	_, err = Open("cifar10-test", OpenOptions{DataDir: dir, DirHint: "--data-dir DIR"})
	if !errors.As(err, &de) || de.Dir != dir {
		t.Fatalf("empty directory: got %v, want a DirError naming it", err)
	}
	for _, want := range []string{"cifar10-test", dir, "test_batch.bin", "--data-dir DIR"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}
