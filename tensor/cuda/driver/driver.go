package driver

import "fmt"

// Driver is a loaded, initialized libcuda.so.1. Get the process's one with
// Open. Its methods are safe from any goroutine.
type Driver struct {
	lib     driverAPI
	blasLib blasLoader
}

// newDriver initializes lib with cuInit(0); every other driver call needs
// that first.
func newDriver(lib driverAPI) (*Driver, error) {
	if err := check(lib, "cuInit", lib.init(0)); err != nil {
		return nil, err
	}
	return &Driver{lib: lib}, nil
}

// LibraryPath returns the libcuda.so.1 in use, as it was passed to dlopen
// (a bare name when the dynamic loader found it).
func (d *Driver) LibraryPath() string { return d.lib.path() }

// Version returns the CUDA version the driver supports, encoded as
// 1000*major + 10*minor (13000 is CUDA 13.0), as cuDriverGetVersion does.
func (d *Driver) Version() (int, error) {
	v, r := d.lib.driverVersion()
	return v, check(d.lib, "cuDriverGetVersion", r)
}

// VersionString formats a Version as "13.0".
func VersionString(v int) string { return fmt.Sprintf("%d.%d", v/1000, v%1000/10) }

// DeviceCount returns the number of CUDA devices this process sees.
func (d *Driver) DeviceCount() (int, error) {
	n, r := d.lib.deviceCount()
	return n, check(d.lib, "cuDeviceGetCount", r)
}

// Device returns device ordinal (0 <= ordinal < DeviceCount).
func (d *Driver) Device(ordinal int) (Device, error) {
	h, r := d.lib.deviceGet(ordinal)
	if err := check(d.lib, fmt.Sprintf("cuDeviceGet(%d)", ordinal), r); err != nil {
		return Device{}, err
	}
	return Device{drv: d, ordinal: ordinal, h: h}, nil
}
