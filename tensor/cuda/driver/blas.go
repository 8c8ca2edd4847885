package driver

import (
	"errors"
	"fmt"
)

// Op says whether cuBLAS transposes an operand (cublasOperation_t).
type Op int

const (
	NoTrans Op = 0 // CUBLAS_OP_N
	Trans   Op = 1 // CUBLAS_OP_T
)

// MathMode is cublasMath_t: how much precision cuBLAS may trade for speed.
type MathMode int

const (
	// MathDefault lets cuBLAS use Tensor Cores where that keeps at least the
	// requested precision (no TF32 for float32).
	MathDefault MathMode = 0
	// MathPedantic computes in the prescribed precision throughout; the
	// mode NewBlas sets, so results stay close to a CPU reference.
	MathPedantic MathMode = 2
	// MathTF32 lets float32 GEMMs run on TF32 Tensor Cores (10-bit
	// mantissa inputs): faster, less precise. Only when asked for.
	MathTF32 MathMode = 3
	// MathDisallowReducedPrecisionReduction is a flag to OR with a mode.
	MathDisallowReducedPrecisionReduction MathMode = 16
)

// Blas is a cuBLAS handle on one Context.
//
// Threading: cuBLAS allows one handle in several threads, but the stream
// and math mode are the handle's, shared by every caller; use a Blas from
// one goroutine at a time (one per stream is simplest). Destroy must not
// overlap other calls.
type Blas struct {
	ctx  *Context
	lib  blasAPI
	h    uintptr
	gone bool
}

// NewBlas loads cuBLAS (on first use; see the package doc for where it is
// looked for) and creates a handle on c, in MathPedantic mode and on the
// legacy default stream until SetStream.
func (c *Context) NewBlas() (*Blas, error) {
	if err := c.live("NewBlas"); err != nil {
		return nil, err
	}
	lib, err := c.dev.drv.blas()
	if err != nil {
		return nil, err
	}
	h, s := lib.create(c.h)
	if err := checkBlas(c.lib(), lib, "cublasCreate_v2", s); err != nil {
		return nil, err
	}
	b := &Blas{ctx: c, lib: lib, h: h}
	if err := b.SetMathMode(MathPedantic); err != nil {
		b.Destroy()
		return nil, err
	}
	return b, nil
}

// LibraryPath returns the cuBLAS in use, as passed to dlopen.
func (b *Blas) LibraryPath() string { return b.lib.path() }

func (b *Blas) live(what string) error {
	if b.gone {
		return fmt.Errorf("%w: %s on a destroyed cuBLAS handle", ErrReleased, what)
	}
	return b.ctx.live(what)
}

func (b *Blas) check(call string, s BlasStatus) error {
	return checkBlas(b.ctx.lib(), b.lib, call, s)
}

// SetStream makes later calls run on s (nil: the legacy default stream).
func (b *Blas) SetStream(s *Stream) error {
	if err := b.live("SetStream"); err != nil {
		return err
	}
	var h uintptr
	if s != nil {
		if s.ctx != b.ctx {
			return errors.New("cuda: SetStream needs a stream of the handle's context")
		}
		if err := s.live("SetStream"); err != nil {
			return err
		}
		h = s.h
	}
	return b.check("cublasSetStream_v2", b.lib.setStream(b.ctx.h, b.h, h))
}

// SetMathMode sets the handle's math mode.
func (b *Blas) SetMathMode(m MathMode) error {
	if err := b.live("SetMathMode"); err != nil {
		return err
	}
	return b.check("cublasSetMathMode", b.lib.setMathMode(b.ctx.h, b.h, m))
}

// Version returns cuBLAS's version, 10000*major + 100*minor + patch.
func (b *Blas) Version() (int, error) {
	if err := b.live("Version"); err != nil {
		return 0, err
	}
	v, s := b.lib.version(b.ctx.h, b.h)
	return v, b.check("cublasGetVersion_v2", s)
}

// Destroy destroys the handle (cublasDestroy_v2).
func (b *Blas) Destroy() error {
	if err := b.live("Destroy"); err != nil {
		return err
	}
	b.gone = true
	return b.check("cublasDestroy_v2", b.lib.destroy(b.ctx.h, b.h))
}
