package driver

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unsafe"
)

func TestAllocFreeMemInfo(t *testing.T) {
	f := newFake(t, map[string]string{"FAKE_CUDA_MEM_LIMIT": "4096"}, fakeLibs{})
	c := f.ctx(0)
	p, err := c.Alloc(1000)
	if err != nil || p == 0 {
		t.Fatalf("Alloc: %#x, %v", p, err)
	}
	if l := f.last("cuMemAlloc_v2"); l.kv["bytes"] != "1000" {
		t.Errorf("the driver was asked for %s bytes, want 1000", l.kv["bytes"])
	}
	free, total, err := c.MemInfo()
	if err != nil || free != 3096 || total != 4096 {
		t.Errorf("MemInfo = %d free of %d, %v; want 3096 of 4096", free, total, err)
	}
	if err := c.Free(p); err != nil {
		t.Fatal(err)
	}
	if free, _, _ := c.MemInfo(); free != 4096 {
		t.Errorf("after Free %d bytes free, want 4096", free)
	}
	for _, n := range []int{0, -1} {
		if _, err := c.Alloc(n); err == nil || !strings.Contains(err.Error(), "positive") {
			t.Errorf("Alloc(%d): %v", n, err)
		}
	}
	f.checkContexts()
}

func TestOutOfMemory(t *testing.T) {
	f := newFake(t, map[string]string{"FAKE_CUDA_MEM_LIMIT": "4096"}, fakeLibs{})
	c := f.ctx(0)
	_, err := c.Alloc(5000)
	var e *Error
	if !errors.Is(err, ErrOutOfMemory) || !errors.As(err, &e) || e.Bytes != 5000 ||
		e.Code != OutOfMemory || e.Call != "cuMemAlloc_v2" {
		t.Fatalf("Alloc beyond the limit: %v (%#v); want ErrOutOfMemory carrying 5000 bytes", err, e)
	}
	want := "cuda: cuMemAlloc_v2 of 5000 bytes: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory"
	if err.Error() != want {
		t.Errorf("message %q\nwant %q", err, want)
	}
	_, err = c.AllocHost(8192)
	if !errors.Is(err, ErrOutOfMemory) || !errors.As(err, &e) || e.Bytes != 8192 || e.Call != "cuMemAllocHost_v2" {
		t.Errorf("AllocHost beyond the limit: %v", err)
	}
	if _, err := c.Alloc(100); errors.Is(err, ErrOutOfMemory) || err != nil {
		t.Errorf("a small Alloc after a failed one: %v", err)
	}
}

func TestCopiesAndMemset(t *testing.T) {
	f := newFake(t, nil, fakeLibs{})
	c := f.ctx(0)
	s := f.stream(c)
	src := []byte("0123456789abcdef")
	a, _ := c.Alloc(len(src))
	b, _ := c.Alloc(len(src))
	if err := s.CopyHtoD(a, unsafe.Pointer(&src[0]), len(src)); err != nil {
		t.Fatal(err)
	}
	if err := s.CopyDtoD(b, a, len(src)); err != nil {
		t.Fatal(err)
	}
	if err := s.Memset(b+4, 'x', 3); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(src))
	if err := s.CopyDtoH(unsafe.Pointer(&got[0]), b, len(got)); err != nil {
		t.Fatal(err)
	}
	if err := s.Synchronize(); err != nil {
		t.Fatal(err)
	}
	if want := "0123xxx789abcdef"; string(got) != want {
		t.Errorf("round trip gave %q, want %q", got, want)
	}
	if l := f.last("cuMemsetD8Async"); l.kv["bytes"] != "3" || l.kv["value"] != "120" {
		t.Errorf("memset: %s", l.text)
	}
	if err := s.CopyHtoD(a, unsafe.Pointer(&src[0]), -1); err == nil {
		t.Error("a negative copy size was accepted")
	}
	f.checkContexts()
}

func TestPinnedHostBuffer(t *testing.T) {
	f := newFake(t, nil, fakeLibs{})
	c := f.ctx(0)
	s := f.stream(c)
	h, err := c.AllocHost(32)
	if err != nil || h.Len() != 32 || h.Ptr() == nil {
		t.Fatalf("AllocHost: %+v, %v", h, err)
	}
	copy(h.Bytes(), bytes.Repeat([]byte{7}, 32))
	d, _ := c.Alloc(32)
	if err := s.CopyHtoD(d, h.Ptr(), 32); err != nil {
		t.Fatal(err)
	}
	clear(h.Bytes())
	if err := s.CopyDtoH(h.Ptr(), d, 32); err != nil {
		t.Fatal(err)
	}
	s.Synchronize()
	if !bytes.Equal(h.Bytes(), bytes.Repeat([]byte{7}, 32)) {
		t.Errorf("pinned round trip gave %v", h.Bytes())
	}
	if err := c.FreeHost(h); err != nil {
		t.Fatal(err)
	}
	if l := f.last("cuMemFreeHost"); l.kv["owner"] != "1" {
		t.Errorf("cuMemFreeHost did not free our buffer: %s", l.text)
	}
	f.checkContexts()
}
