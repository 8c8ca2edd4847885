package nccl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/internal/libtest"
)

// The tests load fake libnccl.so.2 builds of testdata/fakenccl.c, one per
// set of -D flags.
var fakes = libtest.NewFakes("libnccl.so.2")

func TestMain(m *testing.M) { os.Exit(fakes.Run(m)) }

// buildFake returns the path of a fake libnccl.so.2 built with defines,
// skipping the test when it cannot be built or loaded here.
func buildFake(t *testing.T, defines ...string) string {
	t.Helper()
	if !cgoEnabled {
		t.Skip("built without cgo: the fake libnccl.so.2 cannot be loaded")
	}
	dir := fakes.Dir(t, strings.Join(defines, " "), func(_ string, cc libtest.Compile) {
		cc(libName, "fakenccl.c", defines...)
	})
	return filepath.Join(dir, libName)
}

// fake is a loaded fake library and the log of what it was asked to do.
type fake struct {
	t   *testing.T
	lib library
	log string
}

// newFake loads a fake built with defines, behaving as env says.
func newFake(t *testing.T, env map[string]string, defines ...string) *fake {
	t.Helper()
	path := buildFake(t, defines...)
	f := &fake{t: t, log: filepath.Join(t.TempDir(), "fake.log")}
	t.Setenv("FAKE_NCCL_LOG", f.log)
	for k, v := range env {
		t.Setenv(k, v)
	}
	lib, err := openLibrary(path)
	if err != nil {
		t.Fatalf("loading the fake: %v", err)
	}
	f.lib = lib
	return f
}

func (f *fake) lines() []string { return libtest.LogLines(f.t, f.log) }

// count returns how many log lines start with prefix.
func (f *fake) count(prefix string) int {
	n := 0
	for _, l := range f.lines() {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// find returns the only log line starting with prefix.
func (f *fake) find(prefix string) string {
	f.t.Helper()
	var got []string
	for _, l := range f.lines() {
		if strings.HasPrefix(l, prefix) {
			got = append(got, l)
		}
	}
	if len(got) != 1 {
		f.t.Fatalf("want one %q line in the fake's log, got %d:\n%s",
			prefix, len(got), strings.Join(f.lines(), "\n"))
	}
	return got[0]
}

// checkClean fails the test if the fake saw a call it forbids (a call on an
// aborted communicator, or while NCCL was in progress).
func (f *fake) checkClean() {
	f.t.Helper()
	if n := f.count("violation"); n > 0 {
		f.t.Errorf("the fake saw %d forbidden calls:\n%s", n, strings.Join(f.lines(), "\n"))
	}
}
