package data

import (
	"encoding/binary"
	"fmt"
	"math"
)

// MATClass is a MATLAB array class (mxDOUBLE_CLASS = 6, ...).
type MATClass uint8

var matClassNames = [...]string{1: "cell", 2: "struct", 3: "object", 4: "char", 5: "sparse",
	6: "double", 7: "single", 8: "int8", 9: "uint8", 10: "int16", 11: "uint16",
	12: "int32", 13: "uint32", 14: "int64", 15: "uint64"}

// String names the class as MATLAB does ("double", "uint8", ...).
func (c MATClass) String() string {
	if int(c) < len(matClassNames) && matClassNames[c] != "" {
		return matClassNames[c]
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// MATArray is one variable of a MAT-file. Numeric arrays keep their data as
// stored (column-major, in the stored element type, which may differ from
// the class) and convert on access, so a large uint8 image array is not
// blown up to float64.
type MATArray struct {
	Name  string
	Class MATClass
	Dims  []int // MATLAB dimensions, at least two
	// Unsupported says why the data was not read (cell, struct, char,
	// sparse or complex array); At and Float64s need it empty.
	Unsupported string

	raw   []byte // real part as stored
	typ   uint32 // its miXXX storage type
	order binary.ByteOrder
}

// Len is the number of elements (the product of Dims).
func (a *MATArray) Len() int {
	n := 1
	for _, d := range a.Dims {
		n *= d
	}
	return n
}

// At returns element i in column-major order, converted to float64
// (64-bit integers beyond 2^53 round).
func (a *MATArray) At(i int) float64 {
	switch a.typ {
	case miINT8:
		return float64(int8(a.raw[i]))
	case miUINT8:
		return float64(a.raw[i])
	case miINT16:
		return float64(int16(a.order.Uint16(a.raw[2*i:])))
	case miUINT16:
		return float64(a.order.Uint16(a.raw[2*i:]))
	case miINT32:
		return float64(int32(a.order.Uint32(a.raw[4*i:])))
	case miUINT32:
		return float64(a.order.Uint32(a.raw[4*i:]))
	case miSINGLE:
		return float64(math.Float32frombits(a.order.Uint32(a.raw[4*i:])))
	case miINT64:
		return float64(int64(a.order.Uint64(a.raw[8*i:])))
	case miUINT64:
		return float64(a.order.Uint64(a.raw[8*i:]))
	default: // miDOUBLE
		return math.Float64frombits(a.order.Uint64(a.raw[8*i:]))
	}
}

// Float64s returns all elements, column-major, as float64 (nil when
// Unsupported is set).
func (a *MATArray) Float64s() []float64 {
	if a.Unsupported != "" {
		return nil
	}
	out := make([]float64, a.Len())
	for i := range out {
		out[i] = a.At(i)
	}
	return out
}

// matBody walks the sub-elements of one miMATRIX element body.
type matBody struct {
	d     *matDecoder
	body  []byte
	pos   int
	where string           // the enclosing element, for errors
	at    func(int) string // body position -> offset reported in errors
	name  string           // the variable, once known
}

func (m *matBody) errAt(p int, msg string, a ...any) error {
	v := ""
	if m.name != "" {
		v = fmt.Sprintf(" (variable %q)", m.name)
	}
	return fmt.Errorf("%s%s: %s: %s", m.where, v, m.at(p), fmt.Sprintf(msg, a...))
}

// next returns the type and data of the next sub-element (what names it in
// errors), reading the small format when the upper half of the type word is
// the byte count.
func (m *matBody) next(what string) (typ uint32, data []byte, err error) {
	p, o := m.pos, m.d.order
	if len(m.body)-p < 8 {
		return 0, nil, m.errAt(p, "%s: truncated sub-element tag", what)
	}
	w := o.Uint32(m.body[p:])
	if small := int(w >> 16); small != 0 {
		if small > 4 {
			return 0, nil, m.errAt(p, "%s: small data element of %d bytes (at most 4)", what, small)
		}
		m.pos += 8
		return w & 0xffff, m.body[p+4 : p+4+small], nil
	}
	n := int64(o.Uint32(m.body[p+4:]))
	if left := int64(len(m.body) - p - 8); n > left {
		return 0, nil, m.errAt(p, "%s: sub-element of %d bytes overruns the matrix (%d bytes left)", what, n, left)
	}
	// Sub-elements are padded to 8 bytes; the last one may end the body.
	m.pos = min(p+8+int((n+7)/8*8), len(m.body))
	return w, m.body[p+8 : p+8+int(n)], nil
}

// matrix decodes the body of one miMATRIX element into d.vars; at maps a
// body position to the offset reported in errors.
func (d *matDecoder) matrix(body []byte, where string, at func(int) string) error {
	m := &matBody{d: d, body: body, where: where, at: at}
	if len(body) == 0 {
		return m.errAt(0, "empty matrix element where a variable was expected")
	}
	class, complexFlag, err := m.arrayFlags()
	if err != nil {
		return err
	}
	dims, count, err := m.dimensions()
	if err != nil {
		return err
	}
	if err := m.arrayName(); err != nil {
		return err
	}
	a := &MATArray{Name: m.name, Class: class, Dims: dims, order: d.order}
	// Other variables are kept, marked, so that asking for one of them
	// gives a clear error rather than "missing".
	a.Unsupported = matUnsupported(class, complexFlag)
	if a.Unsupported == "" {
		if err := m.realPart(a, count); err != nil {
			return err
		}
	}
	d.vars[m.name] = a
	return nil
}

// arrayFlags reads the array flags sub-element: the class and whether the
// array is complex.
func (m *matBody) arrayFlags() (class MATClass, complexFlag bool, err error) {
	typ, flags, err := m.next("array flags")
	if err != nil {
		return 0, false, err
	}
	if typ != miUINT32 || len(flags) != 8 {
		return 0, false, m.errAt(0, "array flags: want 8 bytes of type 6 (uint32), got %d bytes of type %d", len(flags), typ)
	}
	f0 := m.d.order.Uint32(flags)
	class, complexFlag = MATClass(f0&0xff), f0&0x800 != 0
	if class < 1 || class > 15 {
		return 0, false, m.errAt(0, "unknown array class %d", class)
	}
	return class, complexFlag, nil
}

// dimensions reads the dimensions sub-element, and returns the dimensions
// with the element count (capped above the body's size).
func (m *matBody) dimensions() (dims []int, count int, err error) {
	p0 := m.pos
	typ, rawDims, err := m.next("dimensions")
	if err != nil {
		return nil, 0, err
	}
	if typ != miINT32 || len(rawDims) < 4 || len(rawDims)%4 != 0 {
		return nil, 0, m.errAt(p0, "dimensions: want int32 values (type 5), got %d bytes of type %d", len(rawDims), typ)
	}
	dims = make([]int, len(rawDims)/4)
	count = 1
	for i := range dims {
		v := int32(m.d.order.Uint32(rawDims[4*i:]))
		if v < 0 {
			return nil, 0, m.errAt(p0, "negative dimension %d", v)
		}
		dims[i] = int(v)
		// Cap the product by the body size (no real part can hold more),
		// so that it cannot overflow.
		count = min(count*dims[i], len(m.body)+1)
	}
	return dims, count, nil
}

// arrayName reads the array name sub-element into m.name: a variable not
// yet defined.
func (m *matBody) arrayName() error {
	p0 := m.pos
	typ, rawName, err := m.next("array name")
	if err != nil {
		return err
	}
	if typ != miINT8 && typ != miUINT8 && typ != miUTF8 {
		return m.errAt(p0, "array name: data type %d is not text", typ)
	}
	if m.name = string(rawName); m.name == "" {
		return m.errAt(p0, "variable without a name")
	}
	if _, dup := m.d.vars[m.name]; dup {
		return m.errAt(p0, "variable defined twice")
	}
	return nil
}

// matUnsupported says why an array of class with complexFlag cannot be
// read, or returns "" when it can.
func matUnsupported(class MATClass, complexFlag bool) string {
	switch {
	case class < 6:
		return class.String() + " arrays are not supported"
	case complexFlag:
		return "complex arrays are not supported"
	}
	return ""
}

// realPart reads the real part sub-element, of count elements, into a; it
// must end the body.
func (m *matBody) realPart(a *MATArray, count int) error {
	p0 := m.pos
	typ, real, err := m.next("real part")
	if err != nil {
		return err
	}
	size, ok := matTypeSize[typ]
	if !ok {
		return m.errAt(p0, "real part: data type %d is not numeric", typ)
	}
	if len(real)%size != 0 || len(real)/size != count {
		return m.errAt(p0, "real part: %d bytes of data type %d (%d bytes each) do not fill dimensions %v", len(real), typ, size, a.Dims)
	}
	if m.pos < len(m.body) {
		return m.errAt(m.pos, "%d unexpected bytes after the real part", len(m.body)-m.pos)
	}
	a.raw, a.typ = real, typ
	return nil
}
