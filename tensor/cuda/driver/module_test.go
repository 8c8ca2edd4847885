package driver

import (
	"errors"
	"math"
	"strings"
	"testing"
	"unsafe"
)

// fakePTX is an image the fake driver accepts: kernels and the size of
// their one parameter in words.
const fakePTX = "//fake-ptx\n.entry fill_f32 3\n.entry wide 6\n.entry noargs 0\n"

func loadFake(t *testing.T, c *Context) *Module {
	t.Helper()
	m, err := c.LoadModule(fakePTX)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLaunchPassesWords(t *testing.T) {
	f := newFake(t, nil, fakeLibs{})
	c := f.ctx(0)
	s := f.stream(c)
	fn, err := loadFake(t, c).Function("wide")
	if err != nil {
		t.Fatal(err)
	}
	args := []uint64{0x1122334455667788, 2, math.MaxUint64, uint64(math.Float32bits(1.5))}
	if err := fn.Launch([3]uint32{7, 2, 1}, [3]uint32{256, 1, 3}, 1024, s, args); err != nil {
		t.Fatal(err)
	}
	l := f.last("cuLaunchKernel")
	// The kernel's block is 6 words: the 4 given, then zeros.
	want := map[string]string{"name": "wide", "grid": "7,2,1", "block": "256,1,3", "shared": "1024",
		"extra": "0", "words": "1122334455667788,2,ffffffffffffffff,3fc00000,0,0"}
	for k, v := range want {
		if l.kv[k] != v {
			t.Errorf("launch %s = %q, want %q (%s)", k, l.kv[k], v, l.text)
		}
	}
	noargs, _ := loadFake(t, c).Function("noargs")
	if err := noargs.Launch([3]uint32{1, 1, 1}, [3]uint32{1, 1, 1}, 0, s, nil); err != nil {
		t.Errorf("a kernel without parameters: %v", err)
	}
	if err := fn.Launch([3]uint32{1, 1, 1}, [3]uint32{1, 1, 1}, 0, s, make([]uint64, MaxArgWords+1)); err == nil {
		t.Error("33 words were accepted")
	}
	f.checkContexts()
}

func TestLaunchRunsOnDeviceMemory(t *testing.T) {
	f := newFake(t, nil, fakeLibs{})
	c := f.ctx(0)
	s := f.stream(c)
	fill, err := loadFake(t, c).Function("fill_f32")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := c.Alloc(5 * 4)
	args := []uint64{uint64(p), 5, uint64(math.Float32bits(-2.25))}
	if err := fill.Launch([3]uint32{1, 1, 1}, [3]uint32{32, 1, 1}, 0, s, args); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 5)
	s.CopyDtoH(unsafe.Pointer(&got[0]), p, 5*4)
	for i, v := range got {
		if v != -2.25 {
			t.Errorf("element %d = %v, want -2.25", i, v)
		}
	}
	f.checkContexts()
}

func TestModuleErrors(t *testing.T) {
	f := newFake(t, map[string]string{"FAKE_CUDA_DEVICES": "2"}, fakeLibs{})
	c, other := f.ctx(0), f.ctx(1)
	_, err := c.LoadModule(".version 7.0\n.target sm_80\n")
	var e *Error
	if !errors.As(err, &e) || e.Call != "cuModuleLoadData" || e.Name != "CUDA_ERROR_INVALID_PTX" {
		t.Errorf("a bad image: %v", err)
	}
	m := loadFake(t, c)
	if _, err := m.Function("nosuch"); !errors.As(err, &e) || e.Code != NotFound ||
		!strings.Contains(e.Call, "nosuch") {
		t.Errorf("a missing kernel: %v", err)
	}
	fn, _ := m.Function("fill_f32")
	if err := fn.Launch([3]uint32{1, 1, 1}, [3]uint32{1, 1, 1}, 0, f.stream(other), nil); err == nil {
		t.Error("a launch on another context's stream was accepted")
	}
	if err := fn.Launch([3]uint32{0, 1, 1}, [3]uint32{1, 1, 1}, 0, f.stream(c), nil); !errors.As(err, &e) ||
		e.Code != InvalidValue || e.Call != "cuLaunchKernel(fill_f32)" {
		t.Errorf("a zero grid: %v, want the driver's CUDA_ERROR_INVALID_VALUE", err)
	}
	if err := m.Unload(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Function("fill_f32"); !errors.Is(err, ErrReleased) {
		t.Errorf("Function after Unload: %v", err)
	}
	f.checkContexts()
}
