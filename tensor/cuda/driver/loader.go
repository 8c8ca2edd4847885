package driver

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/fdsm-go/fdsm/internal/pysite"
)

// EnvLibDir names a directory holding libcuda.so.1 and/or libcublas.so.13
// (or .12), searched before anything else.
const EnvLibDir = "FDSM_CUDA_LIB_DIR"

// libSpec says how to find one library.
type libSpec struct {
	what  string   // for messages
	files []string // file names (also sonames for the loader), preferred first
	// wheel lists paths under python3's site-packages where pip puts it.
	wheel    []string
	hint     string // how to fix a failed search
	sentinel error  // what the *LoadError matches
}

var driverSpec = libSpec{
	what:     "libcuda.so.1",
	files:    []string{"libcuda.so.1"},
	hint:     "install the NVIDIA driver, or set " + EnvLibDir + " to the directory holding libcuda.so.1",
	sentinel: ErrNoDriver,
}

// The CUDA 13 wheel (nvidia-cublas 13.x) installs into nvidia/cu13/lib, the
// CUDA 12 one (nvidia-cublas-cu12) into nvidia/cublas/lib.
var blasSpec = libSpec{
	what:  "cuBLAS (libcublas.so.13 or libcublas.so.12)",
	files: []string{"libcublas.so.13", "libcublas.so.12"},
	wheel: []string{
		"nvidia/cu13/lib/libcublas.so.13",
		"nvidia/cublas/lib/libcublas.so.13",
		"nvidia/cublas/lib/libcublas.so.12",
	},
	hint: "pip install nvidia-cublas (CUDA 13) or nvidia-cublas-cu12, or set " + EnvLibDir +
		" to the directory holding libcublas.so.13",
	sentinel: ErrNoBLAS,
}

// Attempt is one place the search tried and why it did not serve.
type Attempt struct {
	Place string // a path, or a bare name for the dynamic loader's search
	Err   string // dlerror, a missing symbol, or "not there"
}

// LoadError reports that a library could not be loaded, listing every place
// tried. It matches ErrNoDriver (libcuda.so.1) or ErrNoBLAS (cuBLAS).
type LoadError struct {
	Library  string
	Attempts []Attempt
	Notes    []string
	hint     string
	sentinel error
}

func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString("cuda: cannot load " + e.Library + "; tried")
	for i, a := range e.Attempts {
		if i > 0 {
			b.WriteString(";")
		}
		if !strings.Contains(a.Place, "/") {
			b.WriteString(" the dynamic loader's search (LD_LIBRARY_PATH, ld.so.cache) for")
		}
		msg := a.Err
		if !strings.HasPrefix(msg, a.Place) { // dlerror usually names it
			msg = a.Place + ": " + msg
		}
		b.WriteString(" " + msg)
	}
	for _, n := range e.Notes {
		b.WriteString("; " + n)
	}
	if e.hint != "" {
		b.WriteString("; " + e.hint)
	}
	return b.String()
}

func (e *LoadError) Is(target error) bool { return target != nil && target == e.sentinel }

func (e *LoadError) add(place, err string) { e.Attempts = append(e.Attempts, Attempt{place, err}) }

const notThere = "not there"

// search finds spec's library: in dir (FDSM_CUDA_LIB_DIR, "" when unset),
// then through the dynamic loader, then under python3's site-packages. A
// library missing from dir is looked for further on (dir may hold only
// cuBLAS, the driver coming from the system), but a dir that is not a
// directory, or a file in it that does not load, ends the search: a wrong
// setting should fail loudly rather than quietly load some other library.
func search[L any](spec libSpec, dir string, sites func() ([]string, error),
	open func(string) (L, error)) (L, error) {
	e := &LoadError{Library: spec.what, hint: spec.hint, sentinel: spec.sentinel}
	var zero L
	if dir != "" {
		lib, found, stop := searchDir(spec, dir, open, e)
		if found {
			return lib, nil
		}
		if stop {
			return zero, e
		}
	}
	for _, f := range spec.files {
		lib, err := open(f)
		if err == nil {
			return lib, nil
		}
		e.add(f, err.Error())
	}
	if len(spec.wheel) == 0 {
		return zero, e
	}
	dirs, err := sites()
	if err != nil {
		e.Notes = append(e.Notes, "python3 site-packages not searched: "+err.Error())
	}
	for _, p := range wheelPaths(dirs, spec.wheel) {
		if lib, ok := tryFile(p, open, e); ok {
			return lib, nil
		}
	}
	return zero, e
}

// searchDir tries spec's files in dir. stop reports that the search ends
// here without a library, e's last note saying why.
func searchDir[L any](spec libSpec, dir string, open func(string) (L, error),
	e *LoadError) (lib L, found, stop bool) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		why := "not a directory"
		if err != nil {
			why = err.Error()
		}
		e.add(dir, why)
		e.Notes = append(e.Notes, EnvLibDir+" must name a directory; nothing else was searched")
		return lib, false, true
	}
	for _, f := range spec.files {
		p := filepath.Join(dir, f)
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			e.add(p, notThere+" ("+EnvLibDir+" is set; looked further)")
			continue
		}
		l, err := open(p)
		if err == nil {
			return l, true, false
		}
		e.add(p, err.Error())
		e.Notes = append(e.Notes,
			EnvLibDir+" holds "+f+" but it does not load, so nothing else was tried")
		return lib, false, true
	}
	return lib, false, false
}

// tryFile opens p if it exists, recording why not in e.
func tryFile[L any](p string, open func(string) (L, error), e *LoadError) (L, bool) {
	var zero L
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		e.add(p, notThere)
		return zero, false
	}
	lib, err := open(p)
	if err != nil {
		e.add(p, err.Error())
		return zero, false
	}
	return lib, true
}

// wheelPaths joins each site directory with each wheel path, once each.
func wheelPaths(dirs, wheel []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range dirs {
		for _, w := range wheel {
			p := filepath.Join(d, w)
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// pythonSitePackages asks python3 for its site-packages directories.
func pythonSitePackages() ([]string, error) { return pysite.Dirs() }
