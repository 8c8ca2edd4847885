package gpu

import (
	"fmt"

	"github.com/fdsm-go/fdsm/tensor/cuda/driver"
)

// Inventory is this machine's GPUs as fdsm sees them (fdsm devices).
type Inventory struct {
	// Unavailable says why CUDA cannot be used here; empty when it can.
	Unavailable   string `json:"unavailable,omitempty"`
	DriverCUDA    string `json:"driver_cuda_version,omitempty"` // the CUDA version the driver supports, e.g. "13.0"
	DriverLibrary string `json:"driver_library,omitempty"`
	CUBLAS        int    `json:"cublas_version,omitempty"`
	CUBLASLibrary string `json:"cublas_library,omitempty"`
	GPUs          []GPU  `json:"gpus"`
}

// GPU describes one device.
type GPU struct {
	Device            string `json:"device"` // cuda:N
	Name              string `json:"name"`
	MemoryBytes       int64  `json:"memory_bytes"`
	ComputeCapability string `json:"compute_capability"`
	Multiprocessors   int    `json:"multiprocessors"`
	PCIBusID          string `json:"pci_bus_id"`
}

// List reports the GPUs, or why there are none to use. It opens the
// driver and, to read cuBLAS's version, briefly GPU 0's primary context.
func List() Inventory {
	inv := Inventory{GPUs: []GPU{}}
	drv, err := driver.Open()
	if err != nil {
		inv.Unavailable = err.Error()
		return inv
	}
	inv.DriverLibrary = drv.LibraryPath()
	if v, err := drv.Version(); err == nil {
		inv.DriverCUDA = driver.VersionString(v)
	}
	n, err := drv.DeviceCount()
	if err != nil {
		inv.Unavailable = err.Error()
		return inv
	}
	for i := range n {
		dev, err := drv.Device(i)
		if err != nil {
			inv.Unavailable = err.Error()
			return inv
		}
		info, err := dev.Info()
		if err != nil {
			inv.Unavailable = err.Error()
			return inv
		}
		inv.GPUs = append(inv.GPUs, GPU{Device: fmt.Sprintf("cuda:%d", i), Name: info.Name, MemoryBytes: info.TotalMem,
			ComputeCapability: fmt.Sprintf("%d.%d", info.Major, info.Minor), Multiprocessors: info.Multiprocessors,
			PCIBusID: info.PCIBusID})
		if i == 0 {
			inv.CUBLAS, inv.CUBLASLibrary, err = blasVersion(dev)
			if err != nil {
				inv.Unavailable = err.Error()
			}
		}
	}
	if n == 0 {
		inv.Unavailable = "the driver reports no GPU"
	}
	return inv
}

// blasVersion creates a cuBLAS handle on dev to read its version.
func blasVersion(dev driver.Device) (int, string, error) {
	ctx, err := dev.RetainPrimary()
	if err != nil {
		return 0, "", err
	}
	defer ctx.Release()
	b, err := ctx.NewBlas()
	if err != nil {
		return 0, "", err
	}
	defer b.Destroy()
	v, err := b.Version()
	return v, b.LibraryPath(), err
}
