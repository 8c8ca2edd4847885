package driver

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/internal/libtest"
)

// resetDefault forgets the process's driver for the test's duration, so
// the test searches afresh under its own FDSM_CUDA_LIB_DIR.
func resetDefault(t *testing.T) {
	t.Helper()
	clear := func() {
		process.mu.Lock()
		process.drv, process.err, process.env = nil, nil, ""
		process.mu.Unlock()
	}
	clear()
	t.Cleanup(clear)
}

// opener is a stand-in for dlopen: it records every name asked and serves
// only those in ok.
type opener struct {
	asked []string
	ok    map[string]bool
}

func (o *opener) open(name string) (string, error) {
	o.asked = append(o.asked, name)
	if o.ok[name] {
		return name, nil
	}
	return "", errors.New(name + ": cannot open shared object file: No such file or directory")
}

func noSites(t *testing.T) func() ([]string, error) {
	return func() ([]string, error) {
		t.Error("python3 was asked for the driver, which no wheel holds")
		return nil, nil
	}
}

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("stand-in"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSearchDriverOrder(t *testing.T) {
	dir := t.TempDir() // FDSM_CUDA_LIB_DIR without libcuda.so.1 (it holds cuBLAS, say)
	o := &opener{}
	_, err := search(driverSpec, dir, noSites(t), o.open)
	if strings.Join(o.asked, ",") != "libcuda.so.1" {
		t.Errorf("dlopen asked for %q, want only the loader's libcuda.so.1", o.asked)
	}
	var le *LoadError
	if !errors.As(err, &le) || !errors.Is(err, ErrNoDriver) || errors.Is(err, ErrNoBLAS) {
		t.Fatalf("err %v, want a *LoadError matching ErrNoDriver", err)
	}
	want := []Attempt{{filepath.Join(dir, "libcuda.so.1"), "not there (" + EnvLibDir + " is set; looked further)"},
		{"libcuda.so.1", "libcuda.so.1: cannot open shared object file: No such file or directory"}}
	if len(le.Attempts) != 2 || le.Attempts[0] != want[0] || le.Attempts[1] != want[1] {
		t.Errorf("attempts %q, want %q", le.Attempts, want)
	}
	for _, s := range []string{"the dynamic loader's search (LD_LIBRARY_PATH, ld.so.cache) for libcuda.so.1",
		dir + "/libcuda.so.1: not there (FDSM_CUDA_LIB_DIR is set; looked further)"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not say %q: %v", s, err)
		}
	}
	o = &opener{ok: map[string]bool{"libcuda.so.1": true}}
	if lib, err := search(driverSpec, dir, noSites(t), o.open); lib != "libcuda.so.1" || err != nil {
		t.Errorf("a driver missing from %s but known to the loader: %q, %v", EnvLibDir, lib, err)
	}
}

func TestSearchBlasOrder(t *testing.T) {
	envDir, site1, site2 := t.TempDir(), t.TempDir(), t.TempDir()
	touch(t, filepath.Join(site2, "nvidia/cublas/lib/libcublas.so.12"))
	touch(t, filepath.Join(site2, "nvidia/cu13/lib/libcublas.so.13")) // there, but broken
	sites := func() ([]string, error) { return []string{site1, site2, site1}, nil }
	o := &opener{ok: map[string]bool{filepath.Join(site2, "nvidia/cublas/lib/libcublas.so.12"): true}}
	lib, err := search(blasSpec, envDir, sites, o.open)
	if err != nil || lib != filepath.Join(site2, "nvidia/cublas/lib/libcublas.so.12") {
		t.Fatalf("found %q, %v", lib, err)
	}
	want := []string{"libcublas.so.13", "libcublas.so.12", // the loader; the env dir and site1 hold none
		filepath.Join(site2, "nvidia/cu13/lib/libcublas.so.13"),
		filepath.Join(site2, "nvidia/cublas/lib/libcublas.so.12")}
	if strings.Join(o.asked, "\n") != strings.Join(want, "\n") {
		t.Errorf("dlopen asked for\n%s\nwant\n%s", strings.Join(o.asked, "\n"), strings.Join(want, "\n"))
	}

	// Found nowhere, every place is listed, in order, each once.
	_, err = search(blasSpec, envDir, sites, (&opener{}).open)
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("nothing loads: %v", err)
	}
	var places []string
	for _, a := range le.Attempts {
		places = append(places, a.Place)
	}
	want = []string{filepath.Join(envDir, "libcublas.so.13"), filepath.Join(envDir, "libcublas.so.12"),
		"libcublas.so.13", "libcublas.so.12"}
	for _, site := range []string{site1, site2} {
		for _, w := range []string{"nvidia/cu13/lib/libcublas.so.13", "nvidia/cublas/lib/libcublas.so.13",
			"nvidia/cublas/lib/libcublas.so.12"} {
			want = append(want, filepath.Join(site, w))
		}
	}
	if strings.Join(places, "\n") != strings.Join(want, "\n") {
		t.Errorf("attempts\n%s\nwant\n%s", strings.Join(places, "\n"), strings.Join(want, "\n"))
	}

	o = &opener{}
	noPython := func() ([]string, error) { return nil, errors.New("python3: not found") }
	_, err = search(blasSpec, "", noPython, o.open)
	if !errors.Is(err, ErrNoBLAS) ||
		!strings.Contains(err.Error(), "python3 site-packages not searched: python3: not found") ||
		!strings.Contains(err.Error(), "pip install nvidia-cublas") {
		t.Errorf("nothing anywhere, no python3: %v", err)
	}
}

func TestSearchStopsAtEnvProblems(t *testing.T) {
	broken := t.TempDir()
	touch(t, filepath.Join(broken, "libcublas.so.13"))
	notDir := filepath.Join(broken, "libcublas.so.13")
	for _, dir := range []string{broken, notDir, filepath.Join(broken, "absent")} {
		o := &opener{ok: map[string]bool{"libcublas.so.13": true}}
		_, err := search(blasSpec, dir, func() ([]string, error) { return nil, nil }, o.open)
		if err == nil || len(o.asked) > 1 || (len(o.asked) == 1 && o.asked[0] != notDir) {
			t.Errorf("%s=%s: asked %q, err %v; want a stop without the loader", EnvLibDir, dir, o.asked, err)
		}
		if err != nil && !strings.Contains(err.Error(), "nothing else was") {
			t.Errorf("%s=%s: the error does not say the search stopped: %v", EnvLibDir, dir, err)
		}
	}
}

func TestPythonSitePackages(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		t.Setenv("PATH", "/usr/bin")
		dirs, err := pythonSitePackages()
		if err != nil || len(dirs) == 0 || !filepath.IsAbs(dirs[0]) {
			t.Errorf("with python3: %q, %v", dirs, err)
		}
	}
	libtest.CheckNoPython(t, pythonSitePackages)
}

// openErr opens the process's driver with FDSM_CUDA_LIB_DIR=dir and returns
// the *LoadError, checking what every such error must say.
func openErr(t *testing.T, dir string) *LoadError {
	t.Helper()
	resetDefault(t)
	t.Setenv(EnvLibDir, dir)
	_, err := Open()
	var le *LoadError
	if !errors.As(err, &le) || !errors.Is(err, ErrNoDriver) {
		t.Fatalf("Open with %s=%s: %v, want a *LoadError matching ErrNoDriver", EnvLibDir, dir, err)
	}
	return le
}

func TestOpenNotALibrary(t *testing.T) {
	needCgo(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "libcuda.so.1"), []byte("not an ELF file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	le := openErr(t, dir)
	if len(le.Attempts) != 1 || (!strings.Contains(le.Attempts[0].Err, "ELF") &&
		!strings.Contains(le.Attempts[0].Err, "too short")) {
		t.Errorf("attempts %q: want one, with dlerror saying it is no library", le.Attempts)
	}
}

func TestOpenMissingRequiredSymbol(t *testing.T) {
	dir := buildFakes(t, fakeLibs{cuda: []string{"-DFAKE_NO_LAUNCH"}, noBlas: true})
	le := openErr(t, dir)
	if !strings.Contains(le.Error(), "missing required symbol cuLaunchKernel") {
		t.Errorf("the error does not name cuLaunchKernel: %v", le)
	}
}

func TestOpenDlerrorForAbsentLibrary(t *testing.T) {
	needCgo(t)
	spec := driverSpec
	spec.files = []string{"libcuda-fdsm-test-absent.so.1"}
	_, err := search(spec, t.TempDir(), noSites(t), openDriver)
	if err == nil || !strings.Contains(err.Error(),
		"the dynamic loader's search (LD_LIBRARY_PATH, ld.so.cache) for "+
			"libcuda-fdsm-test-absent.so.1: cannot open shared object file") {
		t.Errorf("err %v, want the loader's dlerror", err)
	}
}

func TestOpenRetriesAfterEnvChange(t *testing.T) {
	good := buildFakes(t, fakeLibs{})
	openErr(t, t.TempDir()+"/absent")
	t.Setenv("FAKE_CUDA_INIT_RESULT", "100")
	t.Setenv(EnvLibDir, good)
	if _, err := Open(); !errors.Is(err, ErrInit) || errors.Is(err, ErrNoDriver) {
		t.Fatalf("Open with cuInit failing: %v, want ErrInit", err)
	}
	t.Setenv("FAKE_CUDA_INIT_RESULT", "0")
	if _, err := Open(); !errors.Is(err, ErrInit) {
		t.Errorf("a failure must be kept while %s is unchanged: %v", EnvLibDir, err)
	}
	t.Setenv(EnvLibDir, good+"/")
	d, err := Open()
	if err != nil || d.LibraryPath() != filepath.Join(good, "libcuda.so.1") {
		t.Fatalf("Open after changing %s: %v", EnvLibDir, err)
	}
	t.Setenv(EnvLibDir, "/nonexistent")
	if d2, err := Open(); d2 != d || err != nil {
		t.Errorf("a loaded driver was dropped: %v", err)
	}
}

func TestWithoutCgo(t *testing.T) {
	if cgoEnabled {
		t.Skip("built with cgo")
	}
	_, err := Open()
	if !errors.Is(err, ErrNoDriver) || !strings.Contains(err.Error(), "built without cgo") {
		t.Errorf("Open without cgo: %v", err)
	}
	if _, err := openBlas("libcublas.so.13", nil); !errors.Is(err, ErrNoDriver) {
		t.Errorf("openBlas without cgo: %v", err)
	}
}
