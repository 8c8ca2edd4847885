package data

import (
	"bufio"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// MAT-file level 5 data types (the "miXXX" codes of the MathWorks spec).
const (
	miINT8       = 1
	miUINT8      = 2
	miINT16      = 3
	miUINT16     = 4
	miINT32      = 5
	miUINT32     = 6
	miSINGLE     = 7
	miDOUBLE     = 9
	miINT64      = 12
	miUINT64     = 13
	miMATRIX     = 14
	miCOMPRESSED = 15
	miUTF8       = 16
)

// matTypeSize is the element size of the numeric storage types.
var matTypeSize = map[uint32]int{
	miINT8: 1, miUINT8: 1, miINT16: 2, miUINT16: 2, miINT32: 4, miUINT32: 4,
	miSINGLE: 4, miDOUBLE: 8, miINT64: 8, miUINT64: 8,
}

// ReadMAT reads the variables of a MATLAB level 5 MAT-file (the default
// format before v7.3, compressed or not, either byte order).
func ReadMAT(path string) (map[string]*MATArray, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return decodeMAT(f, path, st.Size())
}

// matStream reads bytes sequentially, counting them, with ReadByte so that
// the zlib reader on top of it never reads past its compressed stream.
type matStream struct {
	r   *bufio.Reader
	off int64 // bytes consumed
	n   int64 // bytes still allowed
}

func (s *matStream) Read(p []byte) (int, error) {
	if s.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), s.n)]
	k, err := s.r.Read(p)
	s.off, s.n = s.off+int64(k), s.n-int64(k)
	return k, err
}

func (s *matStream) ReadByte() (byte, error) {
	if s.n <= 0 {
		return 0, io.EOF
	}
	b, err := s.r.ReadByte()
	if err == nil {
		s.off, s.n = s.off+1, s.n-1
	}
	return b, err
}

// decodeMAT parses a MAT-file of size bytes named name (for errors).
func decodeMAT(r io.Reader, name string, size int64) (map[string]*MATArray, error) {
	s := &matStream{r: bufio.NewReaderSize(r, 1<<16), n: size}
	var hdr [128]byte
	if _, err := io.ReadFull(s, hdr[:]); err != nil {
		return nil, fmt.Errorf("%s: truncated MAT-file header (%d of 128 bytes)", name, s.off)
	}
	var order binary.ByteOrder
	switch string(hdr[126:128]) {
	case "IM":
		order = binary.LittleEndian
	case "MI":
		order = binary.BigEndian
	default:
		return nil, fmt.Errorf("%s: not a level 5 MAT-file: endian indicator %q at byte offset 126 (want \"IM\" or \"MI\")", name, hdr[126:128])
	}
	if v := order.Uint16(hdr[124:]); v != 0x0100 {
		hint := ""
		if v == 0x0200 {
			hint = " (v7.3 files are HDF5; save with -v7)"
		}
		return nil, fmt.Errorf("%s: MAT-file version 0x%04x at byte offset 124, want 0x0100%s", name, v, hint)
	}
	// MATLAB's own subsystem data sits at this offset; it is no variable.
	subsys := int64(order.Uint64(hdr[116:]))

	d := &matDecoder{file: name, order: order, vars: map[string]*MATArray{}}
	for {
		start := s.off
		typ, nbytes, err := d.topTag(s)
		if err == io.EOF {
			return d.vars, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: element at byte offset %d: %w", name, start, err)
		}
		where := fmt.Sprintf("%s: element at byte offset %d", name, start)
		if start == subsys && typ != 0 {
			if _, err := io.CopyN(io.Discard, s, nbytes); err != nil {
				return nil, fmt.Errorf("%s: truncated subsystem data", where)
			}
			continue
		}
		switch typ {
		case miMATRIX:
			body, err := matReadN(s, nbytes, s.n, "%d remain")
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			at := func(p int) string { return fmt.Sprintf("byte offset %d", start+8+int64(p)) }
			if err := d.matrix(body, where, at); err != nil {
				return nil, err
			}
			// Uncompressed elements are padded to 8 bytes; a file may end
			// without the last padding.
			io.CopyN(io.Discard, s, int64((8-nbytes%8)%8))
		case miCOMPRESSED:
			if err := d.compressed(s, nbytes, where); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%s: data type %d is not a matrix (14) or compressed (15) element", where, typ)
		}
	}
}

type matDecoder struct {
	file  string
	order binary.ByteOrder
	vars  map[string]*MATArray
}

// topTag reads the 8-byte tag of a top-level element; io.EOF means a clean
// end of the input.
func (d *matDecoder) topTag(r io.Reader) (typ uint32, nbytes int64, err error) {
	var tag [8]byte
	if k, err := io.ReadFull(r, tag[:]); err == io.EOF {
		return 0, 0, io.EOF
	} else if err == io.ErrUnexpectedEOF {
		return 0, 0, fmt.Errorf("truncated tag (%d of 8 bytes)", k)
	} else if err != nil {
		return 0, 0, err
	}
	w := d.order.Uint32(tag[:])
	if w>>16 != 0 {
		return 0, 0, fmt.Errorf("small data element (type %d) where a matrix was expected", w&0xffff)
	}
	return w, int64(d.order.Uint32(tag[4:])), nil
}

// matReadN reads an n-byte element body, refusing sizes above bound (what
// the rest of the input could possibly hold) before allocating.
func matReadN(r io.Reader, n, bound int64, boundWhat string) ([]byte, error) {
	if n > bound {
		return nil, fmt.Errorf("truncated: declares %d bytes but %s", n, fmt.Sprintf(boundWhat, bound))
	}
	buf := make([]byte, n)
	if k, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("truncated: declares %d bytes, only %d present", n, k)
		}
		return nil, fmt.Errorf("after %d of %d bytes: %w", k, n, err)
	}
	return buf, nil
}

// compressed inflates one miCOMPRESSED element of nbytes from s and decodes
// the matrix elements inside it.
func (d *matDecoder) compressed(s *matStream, nbytes int64, where string) error {
	if nbytes > s.n {
		return fmt.Errorf("%s: truncated: compressed element declares %d bytes but %d remain", where, nbytes, s.n)
	}
	outer := s.n - nbytes
	s.n = nbytes
	defer func() { s.n += outer }()
	zr, err := zlib.NewReader(s)
	if err != nil {
		return fmt.Errorf("%s: bad compressed data: %v", where, err)
	}
	z := &matCounter{r: zr}
	for {
		inner := z.off
		typ, n, err := d.topTag(z)
		if err == io.EOF { // zlib checked the checksum before reporting EOF
			break
		}
		iw := fmt.Sprintf("%s, decompressed offset %d", where, inner)
		if err != nil {
			return fmt.Errorf("%s: bad compressed data: %v", iw, err)
		}
		if typ != miMATRIX {
			return fmt.Errorf("%s: data type %d inside compressed element is not a matrix (14)", iw, typ)
		}
		// Deflate expands at most ~1032:1, which bounds an honest size.
		body, err := matReadN(z, n, 1100*nbytes, "the compressed data expands to at most %d")
		if err != nil {
			return fmt.Errorf("%s: bad compressed data: %v", iw, err)
		}
		at := func(p int) string { return fmt.Sprintf("decompressed offset %d", inner+8+int64(p)) }
		if err := d.matrix(body, where, at); err != nil {
			return err
		}
		if _, err := io.CopyN(io.Discard, z, int64((8-n%8)%8)); err != nil && err != io.EOF {
			return fmt.Errorf("%s: bad compressed data: %v", iw, err)
		}
	}
	// Bytes between the end of the zlib stream and the declared size may
	// only be zero padding.
	rest, err := io.ReadAll(s)
	if err != nil {
		return fmt.Errorf("%s: %v", where, err)
	}
	if s.n > 0 {
		return fmt.Errorf("%s: truncated: compressed element ends early", where)
	}
	for i, b := range rest {
		if b != 0 || len(rest) > 7 {
			return fmt.Errorf("%s: %d stray bytes after the compressed stream, from byte offset %d", where, len(rest), s.off-int64(len(rest)-i))
		}
	}
	return nil
}

// matCounter counts the bytes read through it (decompressed offsets).
type matCounter struct {
	r   io.Reader
	off int64
}

func (c *matCounter) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.off += int64(k)
	return k, err
}
