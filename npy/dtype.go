package npy

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/fdsm-go/fdsm/safetensors"
)

// dtype is a parsed descr: byte order, kind ('f', 'i', 'u', 'b') and size.
type dtype struct {
	order binary.ByteOrder
	kind  byte
	size  int
}

// readable lists the descrs Read accepts, for error messages. Either byte
// order is accepted for the multi-byte ones ('<' or '>'); one-byte types
// are written with '|' by NumPy, and '<' or '>' are accepted for them too.
const readable = "f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1, little- ('<') or big-endian ('>')"

// parseDType parses a simple NumPy descr such as "<f8" or "|u1".
func parseDType(descr string) (dtype, error) {
	bad := fmt.Errorf("unsupported dtype %q (readable: %s)", descr, readable)
	if len(descr) != 3 {
		return dtype{}, bad
	}
	d := dtype{kind: descr[1], size: int(descr[2] - '0')}
	switch d.kind {
	case 'f':
		if d.size != 2 && d.size != 4 && d.size != 8 {
			return dtype{}, bad
		}
	case 'i', 'u':
		if d.size != 1 && d.size != 2 && d.size != 4 && d.size != 8 {
			return dtype{}, bad
		}
	case 'b':
		if d.size != 1 {
			return dtype{}, bad
		}
	default:
		return dtype{}, bad
	}
	switch descr[0] {
	case '<':
		d.order = binary.LittleEndian
	case '>':
		d.order = binary.BigEndian
	case '|': // "not applicable": only meaningful for one-byte types
		if d.size != 1 {
			return dtype{}, fmt.Errorf("unsupported dtype %q: byte order '|' on a %d-byte type (readable: %s)", descr, d.size, readable)
		}
		d.order = binary.LittleEndian
	default:
		return dtype{}, bad
	}
	return d, nil
}

// decode converts src (len = len(dst)*size) to float64. Integers beyond
// ±2^53 round to the nearest float64.
func (d dtype) decode(dst []float64, src []byte) {
	o, n := d.order, d.size
	for i := range dst {
		b := src[i*n : i*n+n]
		var v float64
		switch d.kind {
		case 'f':
			switch n {
			case 2:
				v = float64(safetensors.HalfToFloat32(o.Uint16(b)))
			case 4:
				v = float64(math.Float32frombits(o.Uint32(b)))
			default:
				v = math.Float64frombits(o.Uint64(b))
			}
		case 'i':
			switch n {
			case 1:
				v = float64(int8(b[0]))
			case 2:
				v = float64(int16(o.Uint16(b)))
			case 4:
				v = float64(int32(o.Uint32(b)))
			default:
				v = float64(int64(o.Uint64(b)))
			}
		case 'u':
			switch n {
			case 1:
				v = float64(b[0])
			case 2:
				v = float64(o.Uint16(b))
			case 4:
				v = float64(o.Uint32(b))
			default:
				v = float64(o.Uint64(b))
			}
		case 'b':
			if b[0] != 0 {
				v = 1
			}
		}
		dst[i] = v
	}
}
