package driver

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestDriverVersionAndDevices(t *testing.T) {
	f := newFake(t, map[string]string{"FAKE_CUDA_DEVICES": "2", "FAKE_CUDA_VERSION": "12080"}, fakeLibs{})
	if l := f.last("cuInit"); l.kv["flags"] != "0" {
		t.Errorf("cuInit got flags %s, want 0", l.kv["flags"])
	}
	v, err := f.drv.Version()
	if err != nil || v != 12080 || VersionString(v) != "12.8" {
		t.Errorf("Version = %d (%s), %v; want 12080 (12.8)", v, VersionString(v), err)
	}
	if n, err := f.drv.DeviceCount(); n != 2 || err != nil {
		t.Errorf("DeviceCount = %d, %v; want 2", n, err)
	}
	if p := f.drv.LibraryPath(); p != filepath.Join(f.dir, "libcuda.so.1") {
		t.Errorf("LibraryPath = %q", p)
	}
	d, err := f.drv.Device(1)
	if err != nil {
		t.Fatal(err)
	}
	info, err := d.Info()
	want := DeviceInfo{Ordinal: 1, Name: "Fake GPU 1", TotalMem: 1 << 20, Major: 9, Minor: 0,
		Multiprocessors: 132, PCIBusID: "0000:1c:00.0"}
	if err != nil || info != want {
		t.Errorf("Info = %+v, %v\nwant %+v", info, err, want)
	}
	_, err = f.drv.Device(2)
	var e *Error
	if !errors.As(err, &e) || e.Code != 101 || !strings.Contains(e.Call, "cuDeviceGet(2)") {
		t.Errorf("Device(2) of 2: %v, want CUresult 101 from cuDeviceGet(2)", err)
	}
	if _, err := d.Attribute(9999); err == nil || !strings.Contains(err.Error(), "CUDA_ERROR_INVALID_VALUE") {
		t.Errorf("an unknown attribute: %v, want CUDA_ERROR_INVALID_VALUE", err)
	}
}

func TestInitFailureIsDistinct(t *testing.T) {
	dir := buildFakes(t, fakeLibs{})
	t.Setenv("FAKE_CUDA_INIT_RESULT", "100")
	lib, err := openDriver(filepath.Join(dir, "libcuda.so.1"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = newDriver(lib)
	var e *Error
	if !errors.Is(err, ErrInit) || errors.Is(err, ErrNoDriver) || !errors.As(err, &e) ||
		e.Code != NoDevice || e.Name != "CUDA_ERROR_NO_DEVICE" {
		t.Fatalf("cuInit failing with 100: %v (%#v); want ErrInit, not ErrNoDriver, CUDA_ERROR_NO_DEVICE", err, e)
	}
	want := "cuda: cuInit: CUDA_ERROR_NO_DEVICE (100): no CUDA-capable device is detected"
	if err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
}

func TestPrimaryContextRetainRelease(t *testing.T) {
	f := newFake(t, nil, fakeLibs{})
	d, _ := f.drv.Device(0)
	c, err := d.RetainPrimary()
	if err != nil {
		t.Fatal(err)
	}
	if c.Device().Ordinal() != 0 || c.Handle() == 0 {
		t.Errorf("context of device %d, handle %#x", c.Device().Ordinal(), c.Handle())
	}
	if l := f.last("cuDevicePrimaryCtxRetain"); l.kv["refs"] != "1" {
		t.Errorf("retain: %s", l.text)
	}
	if err := c.Release(); err != nil {
		t.Fatal(err)
	}
	if l := f.last("cuDevicePrimaryCtxRelease_v2"); l.kv["dev"] != "0" || l.kv["refs"] != "0" {
		t.Errorf("release: %s", l.text)
	}
	if err := c.Release(); !errors.Is(err, ErrReleased) {
		t.Errorf("second Release: %v, want ErrReleased", err)
	}
	if n := len(f.calls("cuDevicePrimaryCtxRelease_v2")); n != 1 {
		t.Errorf("the driver saw %d releases, want 1", n)
	}
	if _, err := c.Alloc(8); !errors.Is(err, ErrReleased) {
		t.Errorf("Alloc after Release: %v, want ErrReleased", err)
	}
	if len(f.calls("cuMemAlloc_v2")) != 0 {
		t.Error("Alloc on a released context reached the driver")
	}
}

func TestSetCurrentFailureNamed(t *testing.T) {
	f := newFake(t, nil, fakeLibs{})
	c := f.ctx(0)
	t.Setenv("FAKE_CUDA_SETCURRENT_RESULT", "201")
	_, err := c.Alloc(64)
	var e *Error
	if !errors.As(err, &e) || e.Code != InvalidContext || e.Call != "cuCtxSetCurrent (before cuMemAlloc_v2)" ||
		e.Name != "CUDA_ERROR_INVALID_CONTEXT" {
		t.Fatalf("Alloc with cuCtxSetCurrent failing: %v (%#v)", err, e)
	}
	if len(f.calls("cuMemAlloc_v2")) != 0 {
		t.Error("the call ran although its context could not be made current")
	}
}

func TestErrorNamesOptional(t *testing.T) {
	f := newFake(t, nil, fakeLibs{cuda: []string{"-DFAKE_NO_ERROR_STRINGS"}})
	_, err := f.drv.Device(7)
	if err == nil || err.Error() != "cuda: cuDeviceGet(7): CUresult 101" {
		t.Errorf("without cuGetErrorName: %v, want the bare code", err)
	}
}
