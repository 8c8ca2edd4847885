package nccl

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/fdsm-go/fdsm/internal/pysite"
)

const (
	// EnvLibrary names the libnccl.so.2 file (or its directory) to load.
	EnvLibrary = "FDSM_NCCL_LIB"
	libName    = "libnccl.so.2"
	// wheelLib is where pip's nvidia-nccl-cu12/cu13 wheels put NCCL.
	wheelLib = "nvidia/nccl/lib/libnccl.so.2"
)

// Attempt is one place the loader tried and why it did not serve.
type Attempt struct {
	Place string // a path, or libnccl.so.2 for the dynamic loader's search
	Err   string // dlerror, or the missing symbol
}

// LoadError reports that no libnccl.so.2 could be loaded, listing every
// place tried and what else was not searched.
type LoadError struct {
	Attempts []Attempt
	Notes    []string
}

func (e *LoadError) Error() string {
	var b strings.Builder
	b.WriteString("nccl: cannot load " + libName + "; tried")
	for i, a := range e.Attempts {
		if i > 0 {
			b.WriteString(";")
		}
		if a.Place == libName {
			b.WriteString(" the dynamic loader's search (LD_LIBRARY_PATH, ld.so.cache):")
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
	b.WriteString("; set " + EnvLibrary + " to the path of " + libName +
		" (pip's nvidia-nccl-cu13 wheel puts it in site-packages/" + wheelLib + ")")
	return b.String()
}

// searchList returns the places to try, in order, and notes on what was not
// searched. A set FDSM_NCCL_LIB is the only place: a wrong setting should
// fail loudly rather than quietly load some other NCCL.
func searchList(env string, sitePackages func() ([]string, error)) (places, notes []string) {
	if env != "" {
		if fi, err := os.Stat(env); err == nil && fi.IsDir() {
			env = filepath.Join(env, libName)
		}
		return []string{env}, []string{EnvLibrary + " is set, so nothing else was searched"}
	}
	places = []string{libName}
	dirs, err := sitePackages()
	if err != nil {
		notes = append(notes, "python3 site-packages not searched: "+err.Error())
	}
	seen := map[string]bool{}
	for _, d := range dirs {
		p := filepath.Join(d, wheelLib)
		if !seen[p] {
			seen[p] = true
			places = append(places, p)
		}
	}
	return places, notes
}

// loadFirst opens the places in order and returns the first that serves.
func loadFirst(places, notes []string, open func(string) (library, error)) (library, error) {
	e := &LoadError{Notes: notes}
	for _, p := range places {
		lib, err := open(p)
		if err == nil {
			return lib, nil
		}
		e.Attempts = append(e.Attempts, Attempt{Place: p, Err: err.Error()})
	}
	return nil, e
}

// pythonSitePackages asks python3 for its site-packages directories.
func pythonSitePackages() ([]string, error) { return pysite.Dirs() }
