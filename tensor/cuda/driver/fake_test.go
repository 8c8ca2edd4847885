package driver

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/internal/libtest"
)

// The tests load fake libcuda.so.1 and libcublas.so.13 builds of
// testdata/*.c, one directory per set of -D flags.
var fakes = libtest.NewFakes("libcuda.so.1 and libcublas.so.13")

func TestMain(m *testing.M) { os.Exit(fakes.Run(m)) }

func needCgo(t *testing.T) {
	t.Helper()
	if !cgoEnabled {
		t.Skip("built without cgo: nothing can be dlopened")
	}
}

// fakeLibs says what to build into one directory: libcuda.so.1 with the
// cuda flags and, unless noBlas, libcublas.so.13 with the cublas flags
// (and libcublasLt.so.13 when they ask for it).
type fakeLibs struct {
	cuda, cublas []string
	noBlas       bool
}

// buildFakes returns the directory holding the libraries of b, skipping the
// test when they cannot be built here.
func buildFakes(t *testing.T, b fakeLibs) string {
	t.Helper()
	needCgo(t)
	return fakes.Dir(t, fmt.Sprintf("%#v", b), func(dir string, cc libtest.Compile) {
		lib := func(out, src string, flags ...string) {
			cc(out, src, append([]string{"-pthread", "-Wl,-soname," + out}, flags...)...)
		}
		lib("libcuda.so.1", "fakecuda.c", b.cuda...)
		if b.noBlas {
			return
		}
		flags := b.cublas
		for _, f := range b.cublas {
			if f == "-DFAKE_NEEDS_LT" {
				lib("libcublasLt.so.13", "fakecublaslt.c")
				flags = append(flags, "-L"+dir, "-Wl,--no-as-needed", "-l:libcublasLt.so.13")
			}
		}
		lib("libcublas.so.13", "fakecublas.c", append(flags, "-ldl")...)
	})
}

// fake is a Driver over a fake libcuda.so.1 and the log of its calls.
type fake struct {
	t   *testing.T
	dir string
	drv *Driver
	log string
}

// newFake loads the fakes built as b, behaving as env says. cuBLAS is found
// through FDSM_CUDA_LIB_DIR, pointed at the same directory.
func newFake(t *testing.T, env map[string]string, b fakeLibs) *fake {
	t.Helper()
	dir := buildFakes(t, b)
	f := &fake{t: t, dir: dir, log: filepath.Join(t.TempDir(), "fake.log")}
	path := filepath.Join(dir, "libcuda.so.1")
	t.Setenv("FAKE_CUDA_LOG", f.log)
	t.Setenv("FAKE_CUDA_DRIVER", path)
	t.Setenv(EnvLibDir, dir)
	for k, v := range env {
		t.Setenv(k, v)
	}
	lib, err := openDriver(path)
	if err != nil {
		t.Fatalf("loading the fake: %v", err)
	}
	if f.drv, err = newDriver(lib); err != nil {
		t.Fatalf("cuInit on the fake: %v", err)
	}
	return f
}

// ctx retains device dev's primary context, released when the test ends.
func (f *fake) ctx(dev int) *Context {
	f.t.Helper()
	d, err := f.drv.Device(dev)
	if err != nil {
		f.t.Fatal(err)
	}
	c, err := d.RetainPrimary()
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Release() })
	return c
}

// stream makes a non-blocking stream on c.
func (f *fake) stream(c *Context) *Stream {
	f.t.Helper()
	s, err := c.NewStream(StreamNonBlocking)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// logLine is one line of the fake's log: "<tid> <call> key=value...".
type logLine struct {
	tid, call string
	kv        map[string]string
	text      string
}

func (f *fake) lines() []logLine {
	var out []logLine
	for _, l := range libtest.LogLines(f.t, f.log) {
		fs := strings.Fields(l)
		if len(fs) < 2 {
			continue
		}
		ll := logLine{tid: fs[0], call: fs[1], kv: map[string]string{}, text: l}
		for _, kv := range fs[2:] {
			if k, v, ok := strings.Cut(kv, "="); ok {
				ll.kv[k] = v
			}
		}
		out = append(out, ll)
	}
	return out
}

// calls returns the log lines of call.
func (f *fake) calls(call string) []logLine {
	var out []logLine
	for _, l := range f.lines() {
		if l.call == call {
			out = append(out, l)
		}
	}
	return out
}

// last returns the last log line of call.
func (f *fake) last(call string) logLine {
	f.t.Helper()
	ls := f.calls(call)
	if len(ls) == 0 {
		f.t.Fatalf("the fake never saw %s", call)
	}
	return ls[len(ls)-1]
}

// checkContexts fails the test unless every call that needs a context came
// right after a successful cuCtxSetCurrent on the same thread, setting the
// context that owns what the call works on; and unless the fakes logged no
// violation. It returns how many distinct threads made such calls.
func (f *fake) checkContexts() int {
	f.t.Helper()
	pending := map[string]string{} // thread -> context just set there
	threads := map[string]bool{}
	for _, l := range f.lines() {
		switch {
		case l.call == "violation":
			f.t.Errorf("the fake saw a violation: %s", l.text)
		case l.call == "cuCtxSetCurrent":
			if l.kv["result"] == "0" {
				pending[l.tid] = l.kv["ctx"]
			}
		case l.kv["ctx"] != "":
			set, ok := pending[l.tid]
			delete(pending, l.tid)
			threads[l.tid] = true
			if !ok {
				f.t.Errorf("no cuCtxSetCurrent on thread %s just before: %s", l.tid, l.text)
			} else if l.kv["ctx"] != set || l.kv["owner"] != set {
				f.t.Errorf("context %s set, but the call ran in %s on an object of %s: %s",
					set, l.kv["ctx"], l.kv["owner"], l.text)
			}
		}
	}
	return len(threads)
}
