package nccl

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The tests load fake libnccl.so.2 builds of testdata/fakenccl.c, one per
// set of -D flags, compiled once per test binary into fakeDir.
var (
	fakeDir   string
	fakeMu    sync.Mutex
	fakeBuilt = map[string]string{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fakenccl")
	if err != nil {
		panic(err)
	}
	fakeDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildFake returns the path of a fake libnccl.so.2 built with defines,
// skipping the test when it cannot be built or loaded here.
func buildFake(t *testing.T, defines ...string) string {
	t.Helper()
	if !cgoEnabled {
		t.Skip("built without cgo: the fake libnccl.so.2 cannot be loaded")
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not found: cannot build the fake libnccl.so.2 these tests load")
	}
	key := strings.Join(defines, " ")
	fakeMu.Lock()
	defer fakeMu.Unlock()
	if p, ok := fakeBuilt[key]; ok {
		return p
	}
	dir := filepath.Join(fakeDir, "v"+string(rune('a'+len(fakeBuilt))))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, libName)
	args := append([]string{"-shared", "-fPIC", "-O1", "-o", out}, defines...)
	args = append(args, filepath.Join("testdata", "fakenccl.c"))
	if b, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		t.Fatalf("building the fake libnccl.so.2: %v\n%s", err, b)
	}
	fakeBuilt[key] = out
	return out
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

func (f *fake) lines() []string {
	b, err := os.ReadFile(f.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

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
