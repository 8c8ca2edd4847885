package cuda_test

import (
	"errors"
	"testing"

	"github.com/fdsm-go/fdsm/tensor/backendtest"
	"github.com/fdsm-go/fdsm/tensor/cuda"
	"github.com/fdsm-go/fdsm/tensor/cuda/emu"
)

// newEmu returns a backend on a fresh emulated device, closed when the test
// ends. Without cgo there is no emulator, and the test is skipped.
func newEmu(t testing.TB, opt emu.Options) (*cuda.Backend, *emu.Device) {
	t.Helper()
	if !emu.Available {
		t.Skip("the emulated device needs cgo")
	}
	d, err := emu.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cuda.New(d, cuda.Options{Name: "cuda-emu:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		d.Close()
	})
	return b, d
}

// TestConformance runs the Backend conformance suite on the emulated
// device: the backend's logic and the kernels, compiled for the host.
func TestConformance(t *testing.T) {
	b, _ := newEmu(t, emu.Options{})
	backendtest.Run(t, b)
}

// noGate is a device without HostGate, as a driver implementation may be
// at first: the backend then waits for foreign events on the host.
type noGate struct{ *emu.Device }

func (noGate) HostGate(cuda.Stream) (func(), error) { return nil, errors.ErrUnsupported }

// TestConformanceWithoutHostGate runs the suite's event checks on such a
// device.
func TestConformanceWithoutHostGate(t *testing.T) {
	_, d := newEmu(t, emu.Options{})
	b, err := cuda.New(noGate{d}, cuda.Options{Name: "cuda-emu:nogate"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	backendtest.Run(t, b)
}
