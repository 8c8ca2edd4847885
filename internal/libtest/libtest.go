// Package libtest is test support for the packages that dlopen a vendor
// library (nccl, tensor/cuda/driver): it builds fake libraries from the C
// sources in their testdata, reads the logs those fakes write, and checks
// the python3 lookup that finds pip's wheels.
package libtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Fakes builds a package's fake libraries once per test binary: each set
// (one per key) gets its own directory, so sets never shadow each other.
type Fakes struct {
	what  string
	mu    sync.Mutex
	root  string
	built map[string]string
}

// NewFakes returns Fakes whose skip message names what, the libraries built.
func NewFakes(what string) *Fakes {
	return &Fakes{what: what, built: map[string]string{}}
}

// Run runs the tests of m, from TestMain, removing what they built after.
func (f *Fakes) Run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "fakelib")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	f.root = dir
	return m.Run()
}

// Root is the directory every set is built under, by which a loaded fake
// can be told from a real library.
func (f *Fakes) Root() string { return f.root }

// Compile builds testdata/src into the set's directory as the library out,
// with extra gcc flags.
type Compile func(out, src string, flags ...string)

// Dir returns the directory of the set named key, calling build to fill it
// the first time. It skips t where there is no gcc to build with.
func (f *Fakes) Dir(t testing.TB, key string, build func(dir string, cc Compile)) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found: cannot build the fake " + f.what + " these tests load")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.built[key]; ok {
		return d
	}
	dir := filepath.Join(f.root, "v"+string(rune('a'+len(f.built))))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	build(dir, func(out, src string, flags ...string) {
		t.Helper()
		args := []string{filepath.Join("testdata", src), "-shared", "-fPIC", "-O1", "-o", filepath.Join(dir, out)}
		if b, err := exec.Command(gcc, append(args, flags...)...).CombinedOutput(); err != nil {
			t.Fatalf("building the fake %s: %v\n%s", out, err, b)
		}
	})
	f.built[key] = dir
	return dir
}

// LogLines returns the lines of the log at path, none if the fake wrote none.
func LogLines(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// CheckNoPython checks that sites, the lookup of python3's site-packages,
// fails with an error naming python3 when PATH has no python3 (a hang
// would end at the test binary's timeout).
func CheckNoPython(t *testing.T, sites func() ([]string, error)) {
	t.Helper()
	t.Setenv("PATH", t.TempDir())
	dirs, err := sites()
	if err == nil || !strings.Contains(err.Error(), "python3") || dirs != nil {
		t.Errorf("without python3: dirs %q err %v, want an error naming python3", dirs, err)
	}
}
