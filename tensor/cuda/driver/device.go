package driver

import "fmt"

// Device is one CUDA device (CUdevice). It is a value, safe to copy and to
// use from any goroutine; its calls need no context.
type Device struct {
	drv     *Driver
	ordinal int
	h       int // CUdevice
}

// Attribute is a CUdevice_attribute.
type Attribute int

// The attributes Info reads (cuda.h 12.9/13.0).
const (
	AttrMultiprocessorCount    Attribute = 16
	AttrPCIBusID               Attribute = 33
	AttrPCIDeviceID            Attribute = 34
	AttrPCIDomainID            Attribute = 50
	AttrComputeCapabilityMajor Attribute = 75
	AttrComputeCapabilityMinor Attribute = 76
)

// DeviceInfo describes a device.
type DeviceInfo struct {
	Ordinal         int
	Name            string // e.g. "NVIDIA H100 80GB HBM3"
	TotalMem        int64  // bytes
	Major, Minor    int    // compute capability, e.g. 9, 0
	Multiprocessors int
	// PCIBusID is domain:bus:device.function in hex, as lspci and
	// nvidia-smi print it (nvidia-smi with an 8-digit domain).
	PCIBusID string
}

// Ordinal returns the device's number.
func (d Device) Ordinal() int { return d.ordinal }

// Attribute returns one attribute of the device.
func (d Device) Attribute(a Attribute) (int, error) {
	v, r := d.drv.lib.deviceAttribute(d.h, a)
	return v, check(d.drv.lib, fmt.Sprintf("cuDeviceGetAttribute(%d)", int(a)), r)
}

// Info returns the device's name, memory, compute capability,
// multiprocessor count and PCI address.
func (d Device) Info() (DeviceInfo, error) {
	lib := d.drv.lib
	info := DeviceInfo{Ordinal: d.ordinal}
	name, r := lib.deviceName(d.h)
	if err := check(lib, "cuDeviceGetName", r); err != nil {
		return info, err
	}
	mem, r := lib.deviceTotalMem(d.h)
	if err := check(lib, "cuDeviceTotalMem_v2", r); err != nil {
		return info, err
	}
	info.Name, info.TotalMem = name, mem
	attrs := []Attribute{AttrComputeCapabilityMajor, AttrComputeCapabilityMinor,
		AttrMultiprocessorCount, AttrPCIDomainID, AttrPCIBusID, AttrPCIDeviceID}
	v := make([]int, len(attrs))
	for i, a := range attrs {
		var err error
		if v[i], err = d.Attribute(a); err != nil {
			return info, err
		}
	}
	info.Major, info.Minor, info.Multiprocessors = v[0], v[1], v[2]
	info.PCIBusID = fmt.Sprintf("%04x:%02x:%02x.0", v[3], v[4], v[5])
	return info, nil
}

// RetainPrimary retains the device's primary context, the one the CUDA
// runtime, cuBLAS and NCCL use, and returns it. Release it when done.
func (d Device) RetainPrimary() (*Context, error) {
	h, r := d.drv.lib.primaryCtxRetain(d.h)
	if err := check(d.drv.lib, "cuDevicePrimaryCtxRetain", r); err != nil {
		return nil, err
	}
	return &Context{dev: d, h: h}, nil
}
