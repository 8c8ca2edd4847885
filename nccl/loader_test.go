package nccl

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/internal/libtest"
)

func needCgo(t *testing.T) {
	t.Helper()
	if !cgoEnabled {
		t.Skip("built without cgo: nothing can be dlopened")
	}
}

// resetDefault forgets the process's library for the test's duration, so
// the test searches afresh under its own FDSM_NCCL_LIB.
func resetDefault(t *testing.T) {
	t.Helper()
	clear := func() {
		loaded.mu.Lock()
		loaded.lib, loaded.err, loaded.env = nil, nil, ""
		loaded.mu.Unlock()
	}
	clear()
	t.Cleanup(clear)
}

func TestVersionString(t *testing.T) {
	for code, want := range map[int]string{
		22809: "2.28.9", 21400: "2.14.0", 23007: "2.30.7", 2804: "2.8.4", 30102: "3.1.2",
	} {
		if got := versionString(code); got != want {
			t.Errorf("versionString(%d) = %q, want %q", code, got, want)
		}
	}
}

func TestSearchListOrder(t *testing.T) {
	site := func() ([]string, error) { return []string{"/s1", "/s2", "/s1"}, nil }
	places, notes := searchList("", site)
	want := []string{libName, "/s1/" + wheelLib, "/s2/" + wheelLib}
	if strings.Join(places, ",") != strings.Join(want, ",") || len(notes) != 0 {
		t.Errorf("no env: places %q notes %q, want %q and no notes", places, notes, want)
	}

	noPython := func() ([]string, error) { return nil, errors.New("python3: not found") }
	places, notes = searchList("", noPython)
	if len(places) != 1 || places[0] != libName || len(notes) != 1 ||
		!strings.Contains(notes[0], "python3: not found") {
		t.Errorf("no python3: places %q notes %q", places, notes)
	}

	places, notes = searchList("/opt/x/libnccl.so.2", site)
	if len(places) != 1 || places[0] != "/opt/x/libnccl.so.2" || len(notes) != 1 {
		t.Errorf("env set: places %q notes %q, want only the env's file", places, notes)
	}

	dir := t.TempDir()
	if places, _ = searchList(dir, site); places[0] != filepath.Join(dir, libName) {
		t.Errorf("env names a directory: places %q, want %s inside it", places, libName)
	}
}

func TestPythonSitePackagesWithoutPython(t *testing.T) {
	libtest.CheckNoPython(t, pythonSitePackages)
}

func TestPythonSitePackagesWithPython(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	t.Setenv("PATH", "/usr/bin")
	dirs, err := pythonSitePackages()
	if err != nil || len(dirs) == 0 {
		t.Fatalf("dirs %q err %v, want at least one directory", dirs, err)
	}
	for _, d := range dirs {
		if !filepath.IsAbs(d) {
			t.Errorf("site directory %q is not absolute", d)
		}
	}
}

// loadErr loads through FDSM_NCCL_LIB=path and returns the *LoadError.
func loadErr(t *testing.T, path string) *LoadError {
	t.Helper()
	resetDefault(t)
	t.Setenv(EnvLibrary, path)
	_, err := Version()
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("Version with %s=%s: %v, want a *LoadError", EnvLibrary, path, err)
	}
	for _, s := range []string{path, libName, EnvLibrary} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not mention %q: %v", s, err)
		}
	}
	if len(le.Attempts) != 1 || le.Attempts[0].Place != path {
		t.Errorf("attempts %+v, want only %s", le.Attempts, path)
	}
	return le
}

func TestLoadEnvMissingFile(t *testing.T) {
	needCgo(t)
	le := loadErr(t, filepath.Join(t.TempDir(), "nowhere", libName))
	if !strings.Contains(le.Attempts[0].Err, "No such file") {
		t.Errorf("dlerror %q does not say the file is missing", le.Attempts[0].Err)
	}
}

func TestLoadEnvNotALibrary(t *testing.T) {
	needCgo(t)
	path := filepath.Join(t.TempDir(), libName)
	if err := os.WriteFile(path, []byte("this is not an ELF file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	le := loadErr(t, path)
	if e := le.Attempts[0].Err; !strings.Contains(e, "ELF") && !strings.Contains(e, "too short") {
		t.Errorf("dlerror %q does not say it is not a library", e)
	}
}

func TestLoadNothingAnywhere(t *testing.T) {
	needCgo(t)
	dir := t.TempDir()
	places := []string{
		"libnccl-fdsm-test-absent.so.2",
		filepath.Join(dir, "site1", wheelLib),
		filepath.Join(dir, "site2", wheelLib),
	}
	_, err := loadFirst(places, []string{"python3 site-packages not searched: x"}, openLibrary)
	var le *LoadError
	if !errors.As(err, &le) || len(le.Attempts) != len(places) {
		t.Fatalf("err %v, want a *LoadError with %d attempts", err, len(places))
	}
	for _, p := range append(places, libName, EnvLibrary, "python3 site-packages not searched") {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error does not mention %q: %v", p, err)
		}
	}
}

func TestLoadMissingOptionalSymbol(t *testing.T) {
	needCgo(t)
	lib, err := openLibrary(buildFake(t, "-DFAKE_NO_LAST_ERROR"))
	if err != nil {
		t.Fatalf("a library without ncclGetLastError must load: %v", err)
	}
	if s := lib.lastError(0); s != "" {
		t.Errorf("lastError without the symbol = %q, want empty", s)
	}
	if v, err := libraryVersion(lib); err != nil || v != "2.28.9" {
		t.Errorf("version %q, %v", v, err)
	}
}

func TestLoadMissingRequiredSymbol(t *testing.T) {
	needCgo(t)
	path := buildFake(t, "-DFAKE_NO_ALLREDUCE")
	if _, err := openLibrary(path); err == nil || !strings.Contains(err.Error(), "ncclAllReduce") {
		t.Errorf("open without ncclAllReduce: %v, want an error naming it", err)
	}
	le := loadErr(t, path)
	if !strings.Contains(le.Attempts[0].Err, "missing required symbol ncclAllReduce") {
		t.Errorf("attempt %+v does not name the missing symbol", le.Attempts[0])
	}
}

func TestVersionRetriesAfterEnvChange(t *testing.T) {
	needCgo(t)
	fake := buildFake(t)
	resetDefault(t)
	t.Setenv(EnvLibrary, filepath.Join(t.TempDir(), libName))
	if _, err := Version(); err == nil {
		t.Fatal("Version with a missing library succeeded")
	}
	t.Setenv(EnvLibrary, fake)
	v, err := Version()
	if err != nil || v != "2.28.9" {
		t.Fatalf("Version after pointing %s at the fake = %q, %v; want 2.28.9", EnvLibrary, v, err)
	}
	if p, _ := LibraryPath(); p != fake {
		t.Errorf("LibraryPath = %q, want %q", p, fake)
	}
	// Once loaded the library stays, whatever the environment says.
	t.Setenv(EnvLibrary, "/nonexistent")
	if _, err := Version(); err != nil {
		t.Errorf("a loaded library was dropped: %v", err)
	}
}

func TestWithoutCgo(t *testing.T) {
	if cgoEnabled {
		t.Skip("built with cgo")
	}
	if _, err := Version(); !errors.Is(err, errNoCgo) || !strings.Contains(err.Error(), "built without cgo") {
		t.Errorf("Version without cgo: %v", err)
	}
}
