//go:build cgo && turbojpeg

package data

// libjpeg-turbo through its TurboJPEG API (Debian: libturbojpeg0-dev). The
// build tag is opt-in, unlike OpenBLAS's opt-out, so that a plain go build
// works where the headers are missing; make adds it when they are present.

// #cgo LDFLAGS: -lturbojpeg
// #include <stdlib.h>
// #include <turbojpeg.h>
import "C"

import (
	"errors"
	"fmt"
	"slices"
	"unsafe"
)

const turboAvailable = true

// turboJPEG owns one TurboJPEG decompressor handle (not thread-safe).
type turboJPEG struct{ h C.tjhandle }

func newTurboJPEG() (jpegCodec, error) {
	h := C.tjInitDecompress()
	if h == nil {
		return nil, errors.New("libjpeg-turbo: cannot create a decompressor")
	}
	return &turboJPEG{h: h}, nil
}

func (t *turboJPEG) close() {
	if t.h != nil {
		C.tjDestroy(t.h)
		t.h = nil
	}
}

// err returns the handle's error and replaces the handle: after a failed
// decode (a warning included) TurboJPEG 2.1 leaves it in a state in which
// the next good image fails too.
func (t *turboJPEG) err() error {
	err := fmt.Errorf("libjpeg-turbo: %s", C.GoString(C.tjGetErrorStr2(t.h)))
	C.tjDestroy(t.h)
	t.h = C.tjInitDecompress() // nil (no memory) makes the next decode fail
	return err
}

// decode asks for the image's size divided by f (rounded up, as TurboJPEG
// scales), which makes TurboJPEG pick the scaling factor 1/f and so decode
// only the low DCT coefficients. Warnings (a truncated stream, which
// libjpeg would pad with grey) count as errors.
func (t *turboJPEG) decode(buf []byte, minSide int, rgb []byte) ([]byte, int, int, error) {
	if t.h == nil {
		if t.h = C.tjInitDecompress(); t.h == nil {
			return rgb, 0, 0, errors.New("libjpeg-turbo: cannot create a decompressor")
		}
	}
	if len(buf) == 0 {
		return rgb, 0, 0, errors.New("libjpeg-turbo: empty input")
	}
	src := (*C.uchar)(unsafe.Pointer(&buf[0]))
	var w, h, sub, cs C.int
	if C.tjDecompressHeader3(t.h, src, C.ulong(len(buf)), &w, &h, &sub, &cs) != 0 {
		return rgb, 0, 0, t.err()
	}
	if err := checkJPEGSize(int(w), int(h)); err != nil {
		return rgb, 0, 0, err
	}
	f := reduction(int(w), int(h), minSide)
	sw, sh := (int(w)+f-1)/f, (int(h)+f-1)/f
	rgb = slices.Grow(rgb[:0], 3*sw*sh)[:3*sw*sh]
	if C.tjDecompress2(t.h, src, C.ulong(len(buf)), (*C.uchar)(unsafe.Pointer(&rgb[0])),
		C.int(sw), C.int(3*sw), C.int(sh), C.TJPF_RGB, 0) != 0 {
		return rgb, 0, 0, t.err()
	}
	return rgb, sw, sh, nil
}
