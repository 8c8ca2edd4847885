//go:build !cgo

package emu

import (
	"errors"

	"github.com/fdsm-go/fdsm/tensor/cuda"
)

// Available reports whether this build has the emulator (it needs cgo).
const Available = false

// Options configure an emulated device.
type Options struct {
	Ordinal         int
	Memory          int64
	MultiProcessors int
}

var errNoCgo = errors.New("cuda-emu: the emulated device needs cgo (built with CGO_ENABLED=0)")

// Device is unavailable without cgo.
type Device struct{ cuda.Device }

// New fails without cgo.
func New(Options) (*Device, error) { return nil, errNoCgo }

// NewBackend fails without cgo.
func NewBackend(Options) (*cuda.Backend, error) { return nil, errNoCgo }

// Close does nothing without cgo.
func (d *Device) Close() error { return nil }

// Fault fails without cgo.
func (d *Device) Fault(cuda.Stream, error) error { return errNoCgo }

// Kernels is empty without cgo.
func Kernels() map[string]int { return nil }

// KernelNames is empty without cgo.
func KernelNames() []string { return nil }
