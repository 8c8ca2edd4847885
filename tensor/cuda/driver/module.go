package driver

import (
	"errors"
	"fmt"
)

// MaxArgWords is the most 8-byte words a kernel's parameter block has.
const MaxArgWords = 32

// Module is loaded device code (CUmodule) on one Context.
//
// Threading: Function and launches of its functions may come from any
// goroutine; Unload must not overlap them, nor precede the end of work
// launched from it.
type Module struct {
	ctx  *Context
	h    uintptr
	gone bool
}

// Function is one kernel of a Module (CUfunction).
type Function struct {
	mod  *Module
	h    uintptr
	name string
}

// LoadModule loads image (cuModuleLoadData): PTX text, which the driver
// compiles for the device (PTX newer than the driver's CUDA fails to load),
// or a cubin or fatbin.
func (c *Context) LoadModule(image string) (*Module, error) {
	if err := c.live("LoadModule"); err != nil {
		return nil, err
	}
	h, r := c.lib().moduleLoadData(c.h, image)
	if err := c.check("cuModuleLoadData", r); err != nil {
		return nil, err
	}
	return &Module{ctx: c, h: h}, nil
}

func (m *Module) live(what string) error {
	if m.gone {
		return fmt.Errorf("%w: %s on an unloaded module", ErrReleased, what)
	}
	return m.ctx.live(what)
}

// Function returns the kernel named name (its extern "C" or .entry name).
func (m *Module) Function(name string) (*Function, error) {
	if err := m.live("Function"); err != nil {
		return nil, err
	}
	h, r := m.ctx.lib().moduleGetFunction(m.ctx.h, m.h, name)
	if err := m.ctx.check("cuModuleGetFunction("+name+")", r); err != nil {
		return nil, err
	}
	return &Function{mod: m, h: h, name: name}, nil
}

// Unload unloads the module (cuModuleUnload); its functions are then gone.
func (m *Module) Unload() error {
	if err := m.live("Unload"); err != nil {
		return err
	}
	m.gone = true
	return m.ctx.check("cuModuleUnload", m.ctx.lib().moduleUnload(m.ctx.h, m.h))
}

// Name returns the kernel's name.
func (f *Function) Name() string { return f.name }

// Launch enqueues the kernel on s with grid blocks of block threads and
// sharedBytes of dynamic shared memory (cuLaunchKernel).
//
// Every kernel this package launches takes exactly one by-value parameter:
// a struct of 8-byte words, args (at most MaxArgWords). Word i holds the
// struct's i-th field: a device pointer, a 64-bit integer, or a 32-bit
// value in its low 4 bytes (little-endian), e.g. uint64(math.Float32bits(x)).
// A kernel whose struct is longer than len(args) words reads zeros past
// them. The driver copies args at launch, so the slice may be reused.
func (f *Function) Launch(grid, block [3]uint32, sharedBytes uint32, s *Stream, args []uint64) error {
	m := f.mod
	if err := m.live("Launch " + f.name); err != nil {
		return err
	}
	if s == nil || s.ctx != m.ctx {
		return errors.New("cuda: Launch " + f.name + " needs a stream of the module's context")
	}
	if err := s.live("Launch " + f.name); err != nil {
		return err
	}
	if len(args) > MaxArgWords {
		return fmt.Errorf("cuda: Launch %s: %d argument words, at most %d", f.name, len(args), MaxArgWords)
	}
	r := m.ctx.lib().launch(m.ctx.h, f.h, grid, block, sharedBytes, s.h, args)
	return m.ctx.check("cuLaunchKernel("+f.name+")", r)
}
