// Package device names the backends a command can compute on and opens
// them: "cpu" (the default, also "cpu:0"), "cpu:N" (logical CPU devices of
// their own, on the same cores, for device groups), "devsim:N" (the strict
// simulated device of package tensor/devsim) and "cuda:N" (GPU N through
// the CUDA backend, package tensor/cuda/gpu, which loads libcuda and cuBLAS
// at run time: on a machine without them cuda:N is an *Error naming what
// was looked for).
// Commands take --device NAME and configs may set device: NAME; models,
// objectives and the trainer get their backend from here, so nothing else
// names the CPU.
package device

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/tensor/cuda"
	"github.com/fdsm-go/fdsm/tensor/cuda/gpu"
	"github.com/fdsm-go/fdsm/tensor/devsim"
)

// Default is the device used when none is named.
const Default = "cpu"

// SimDevices is the number of simulated devices, devsim:0 to
// devsim:SimDevices-1 (a node of eight, as a GPU node has); LogicalCPUs
// the number of CPU devices, cpu:0 (the CPU itself) to cpu:7.
const (
	SimDevices  = 8
	LogicalCPUs = 8
)

// Error is a device name that cannot be opened. Commands report it as a
// usage error (exit code 2) before anything is written.
type Error struct {
	Name, Why string
}

func (e *Error) Error() string {
	return fmt.Sprintf("device %q: %s (available: %s)", e.Name, e.Why, strings.Join(Available(), ", "))
}

// Available lists the device names this binary can open on this machine.
func Available() []string {
	return []string{"cpu", fmt.Sprintf("cpu:1..%d", LogicalCPUs-1), fmt.Sprintf("devsim:0..%d", SimDevices-1), "cuda:N with an NVIDIA driver"}
}

var (
	mu   sync.Mutex
	sims = map[int]*devsim.Device{}
	cpus = map[int]*tensor.CPU{}
)

// Open returns the backend for name ("" is Default). Devices live for the
// process: opening a name twice gives the same backend.
func Open(name string) (tensor.Backend, error) {
	kind, index, err := parse(name)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "cpu":
		if index == 0 {
			return tensor.DefaultCPU(), nil
		}
		mu.Lock()
		defer mu.Unlock()
		c, ok := cpus[index]
		if !ok {
			c = tensor.NewLogicalCPU(fmt.Sprintf("cpu:%d", index))
			cpus[index] = c
		}
		return c, nil
	case "cuda":
		be, err := gpu.Open(index)
		if err != nil {
			return nil, &Error{name, err.Error()}
		}
		return be, nil
	case "devsim":
		mu.Lock()
		defer mu.Unlock()
		d, ok := sims[index]
		if !ok {
			d = devsim.New(fmt.Sprintf("devsim:%d", index))
			sims[index] = d
		}
		return d, nil
	}
	panic("unreachable")
}

// OpenGroup opens the devices of a group, the lead first. A CUDA device
// named again is another lane of that GPU (gpu.OpenLane: a stream and
// memory pool of its own), so "cuda:0,cuda:0,cuda:0" is a group of three
// on one GPU; any other device named twice is an error, since the group
// would hold one backend twice.
func OpenGroup(names []string) ([]tensor.Backend, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("a device group needs at least one device")
	}
	seen := map[string]int{}
	out := make([]tensor.Backend, len(names))
	for i, name := range names {
		kind, index, err := parse(name)
		if err != nil {
			return nil, err
		}
		canon, _ := Canonical(name)
		lane := seen[canon]
		seen[canon]++
		switch {
		case lane == 0:
			out[i], err = Open(name)
		case kind == "cuda":
			if out[i], err = gpu.OpenLane(index, lane); err != nil {
				err = &Error{name, err.Error()}
			}
		default:
			err = &Error{name, fmt.Sprintf("named %d times in the group; only a CUDA device can be given again (as another lane of the GPU): use %s:N devices of their own",
				lane+1, kind)}
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Check reports whether name can be opened, without opening it.
func Check(name string) error {
	_, _, err := parse(name)
	return err
}

// Canonical returns the name in the form Open's backends report: "cpu",
// "devsim:N".
func Canonical(name string) (string, error) {
	kind, index, err := parse(name)
	if err != nil {
		return "", err
	}
	if kind == "cpu" && index == 0 {
		return "cpu", nil
	}
	return fmt.Sprintf("%s:%d", kind, index), nil
}

// parse splits name into a kind and an index, checking both.
func parse(name string) (kind string, index int, err error) {
	if name == "" {
		name = Default
	}
	kind, idx, hasIdx := strings.Cut(name, ":")
	if hasIdx {
		index, err = strconv.Atoi(idx)
		if err != nil || index < 0 {
			return "", 0, &Error{name, fmt.Sprintf("%q is not a device index", idx)}
		}
	}
	switch kind {
	case "cpu":
		if index >= LogicalCPUs {
			return "", 0, &Error{name, fmt.Sprintf("there are %d CPU devices, cpu (cpu:0) to cpu:%d, all on the same cores", LogicalCPUs, LogicalCPUs-1)}
		}
	case "devsim":
		if index >= SimDevices {
			return "", 0, &Error{name, fmt.Sprintf("there are %d simulated devices, devsim:0 to devsim:%d", SimDevices, SimDevices-1)}
		}
	case "cuda":
	default:
		return "", 0, &Error{name, "unknown device kind " + strconv.Quote(kind)}
	}
	return kind, index, nil
}

// Group returns the names of a group of k devices led by lead: lead and
// the k-1 devices of its kind after it ("devsim:2", 3 gives devsim:2,
// devsim:3, devsim:4; "cpu" gives cpu, cpu:1, cpu:2).
func Group(lead string, k int) ([]string, error) {
	kind, index, err := parse(lead)
	if err != nil {
		return nil, err
	}
	if k < 1 {
		return nil, fmt.Errorf("a device group needs at least one device, got %d", k)
	}
	names := make([]string, k)
	for i := range names {
		name := fmt.Sprintf("%s:%d", kind, index+i)
		if err := Check(name); err != nil {
			return nil, fmt.Errorf("a group of %d devices from %s: %w", k, lead, err)
		}
		names[i], _ = Canonical(name)
	}
	return names, nil
}

// SetTF32 allows (or forbids) TF32 tensor-core arithmetic in float32 GEMMs
// of be, which must be a CUDA backend.
func SetTF32(be tensor.Backend, on bool) error {
	c, ok := be.(*cuda.Backend)
	if !ok {
		return fmt.Errorf("tf32 applies to CUDA devices, not %s", be.Name())
	}
	mode := cuda.MathFP32
	if on {
		mode = cuda.MathTF32
	}
	return c.SetMathMode(mode)
}
