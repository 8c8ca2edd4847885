package ring

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unsafe"

	"github.com/fdsm-go/fdsm/collective"

	"github.com/fdsm-go/fdsm/tensor"
)

// Wire formats of the ring. Integers are little-endian. Float payloads travel
// as raw memory, so every rank must share one byte order; the hello checks it.

const (
	helloMagic    = "FDSMRING"
	wireVersion   = 2 // 2: the acceptor's challenge and the hello's MAC
	byteOrderMark = 0x01020304
	maxJobLen     = 256
	maxReasonLen  = 4096
)

// Replies to a hello.
const (
	replyOK       byte = 0
	replyNotReady byte = 1 // no such ring yet: retry
	replyStale    byte = 2 // the generation is older than this process's: give up
	replyRefused  byte = 3 // malformed or contradictory: give up
)

// ringHello opens every ring connection: the dialer is rank from, the acceptor
// rank to, of a ring of world ranks of one job generation.
type ringHello struct {
	job      string
	gen      uint64
	from, to int
	world    int
}

// A connection's first bytes are the acceptor's challenge, a random nonce.
// The dialer answers with its hello followed by helloMAC(key, nonce, hello):
// with the job's data-plane key the acceptor checks that the dialer holds
// it before any gradient is read; a stranger, or a replay of another
// connection's hello, is refused.
const (
	challengeMagic = "FDSMCHAL"
	nonceLen       = 16
	macLen         = sha256.Size
)

func writeChallenge(w io.Writer) ([nonceLen]byte, error) {
	var nonce [nonceLen]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nonce, err
	}
	_, err := w.Write(append([]byte(challengeMagic), nonce[:]...))
	return nonce, err
}

func readChallenge(r io.Reader) ([nonceLen]byte, error) {
	var b [len(challengeMagic) + nonceLen]byte
	var nonce [nonceLen]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return nonce, fmt.Errorf("read challenge: %w", err)
	}
	if string(b[:len(challengeMagic)]) != challengeMagic {
		return nonce, errors.New("not an fdsm data plane (bad challenge)")
	}
	copy(nonce[:], b[len(challengeMagic):])
	return nonce, nil
}

// helloMAC is HMAC-SHA256 over the nonce and the hello's bytes; with no key
// (an insecure job) it is all zeros.
func helloMAC(key []byte, nonce [nonceLen]byte, hello []byte) [macLen]byte {
	var out [macLen]byte
	if len(key) == 0 {
		return out
	}
	m := hmac.New(sha256.New, key)
	m.Write(nonce[:])
	m.Write(hello)
	copy(out[:], m.Sum(nil))
	return out
}

// writeHello sends h and its MAC for the acceptor's nonce.
func writeHello(w io.Writer, h ringHello, key []byte, nonce [nonceLen]byte) error {
	b, err := encodeHello(h)
	if err != nil {
		return err
	}
	mac := helloMAC(key, nonce, b)
	_, err = w.Write(append(b, mac[:]...))
	return err
}

func encodeHello(h ringHello) ([]byte, error) {
	if len(h.job) > maxJobLen {
		return nil, fmt.Errorf("job name longer than %d bytes", maxJobLen)
	}
	b := make([]byte, 0, 40+len(h.job)+macLen)
	b = append(b, helloMagic...)
	b = binary.LittleEndian.AppendUint16(b, wireVersion)
	b = binary.NativeEndian.AppendUint32(b, byteOrderMark)
	b = binary.LittleEndian.AppendUint64(b, h.gen)
	b = binary.LittleEndian.AppendUint32(b, uint32(h.from))
	b = binary.LittleEndian.AppendUint32(b, uint32(h.to))
	b = binary.LittleEndian.AppendUint32(b, uint32(h.world))
	b = binary.LittleEndian.AppendUint16(b, uint16(len(h.job)))
	b = append(b, h.job...)
	return b, nil
}

// readHello reads a hello and its MAC and, with a key, checks the MAC
// against nonce (errBadMAC when it does not match).
func readHello(r io.Reader, key []byte, nonce [nonceLen]byte) (ringHello, error) {
	var b [36]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return ringHello{}, fmt.Errorf("read hello: %w", err)
	}
	if string(b[:8]) != helloMagic {
		return ringHello{}, errors.New("not an fdsm ring connection (bad magic)")
	}
	if v := binary.LittleEndian.Uint16(b[8:]); v != wireVersion {
		return ringHello{}, fmt.Errorf("ring wire version %d, this process speaks %d", v, wireVersion)
	}
	if binary.LittleEndian.Uint32(b[10:]) != byteOrderMark {
		return ringHello{}, errors.New("peer has a different byte order; ring payloads are raw floats")
	}
	h := ringHello{
		gen:   binary.LittleEndian.Uint64(b[14:]),
		from:  int(binary.LittleEndian.Uint32(b[22:])),
		to:    int(binary.LittleEndian.Uint32(b[26:])),
		world: int(binary.LittleEndian.Uint32(b[30:])),
	}
	n := int(binary.LittleEndian.Uint16(b[34:]))
	if n > maxJobLen {
		return ringHello{}, fmt.Errorf("job name of %d bytes", n)
	}
	if h.world < 2 || h.from >= h.world || h.to >= h.world {
		return ringHello{}, fmt.Errorf("ranks %d->%d outside world size %d", h.from, h.to, h.world)
	}
	rest := make([]byte, n+macLen)
	if _, err := io.ReadFull(r, rest); err != nil {
		return ringHello{}, fmt.Errorf("read hello: %w", err)
	}
	h.job = string(rest[:n])
	if len(key) > 0 {
		want := helloMAC(key, nonce, append(b[:], rest[:n]...))
		if !hmac.Equal(want[:], rest[n:]) {
			return h, errBadMAC
		}
	}
	return h, nil
}

// errBadMAC: the dialer does not hold the job's data-plane key.
var errBadMAC = errors.New("authentication failed: the connection does not prove it belongs to this job (a different or missing job secret)")

func writeReply(w io.Writer, code byte, msg string) error {
	if len(msg) > maxReasonLen {
		msg = msg[:maxReasonLen]
	}
	b := make([]byte, 0, 3+len(msg))
	b = append(b, code)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(msg)))
	b = append(b, msg...)
	_, err := w.Write(b)
	return err
}

func readReply(r io.Reader) (byte, string, error) {
	var b [3]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, "", fmt.Errorf("read handshake reply: %w", err)
	}
	msg := make([]byte, binary.LittleEndian.Uint16(b[1:]))
	if _, err := io.ReadFull(r, msg); err != nil {
		return 0, "", fmt.Errorf("read handshake reply: %w", err)
	}
	return b[0], string(msg), nil
}

// opHeaderLen is the size of the OpDesc every collective sends ahead of its
// data, so the receiver can check it against its own.
const opHeaderLen = 32

func encodeOpDesc(b *[opHeaderLen]byte, d collective.OpDesc) {
	binary.LittleEndian.PutUint32(b[0:], 0x4f50_4844) // "OPHD"
	binary.LittleEndian.PutUint64(b[4:], d.Seq)
	b[12] = byte(d.Kind)
	b[13] = byte(d.DType)
	b[14] = byte(d.Reduce)
	b[15] = 0
	binary.LittleEndian.PutUint64(b[16:], uint64(d.Count))
	binary.LittleEndian.PutUint64(b[24:], uint64(int64(d.Root)))
}

func decodeOpDesc(b *[opHeaderLen]byte) (collective.OpDesc, error) {
	if binary.LittleEndian.Uint32(b[0:]) != 0x4f50_4844 {
		return collective.OpDesc{}, errors.New("stream out of step: expected a collective header")
	}
	return collective.OpDesc{
		Seq:    binary.LittleEndian.Uint64(b[4:]),
		Kind:   collective.OpKind(b[12]),
		DType:  tensor.DType(b[13]),
		Reduce: collective.ReduceOp(b[14]),
		Count:  int(binary.LittleEndian.Uint64(b[16:])),
		Root:   int(int64(binary.LittleEndian.Uint64(b[24:]))),
	}, nil
}

// Abort frames travel backwards, on the otherwise idle reverse direction of
// a ring connection, so a failing rank can tell its predecessor why.
const abortMagic = 0x4142_5254 // "ABRT"

// abortFrame says why a rank's communicator broke. closing marks Close, after
// which the predecessor may still finish the collective in progress.
type abortFrame struct {
	origin  int
	closing bool
	reason  string
}

func writeAbort(w io.Writer, f abortFrame) error {
	reason := f.reason
	if len(reason) > maxReasonLen {
		reason = reason[:maxReasonLen]
	}
	b := make([]byte, 0, 13+len(reason))
	b = binary.LittleEndian.AppendUint32(b, abortMagic)
	b = binary.LittleEndian.AppendUint32(b, uint32(f.origin))
	if f.closing {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(reason)))
	b = append(b, reason...)
	_, err := w.Write(b)
	return err
}

func readAbort(r io.Reader) (abortFrame, error) {
	var b [13]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return abortFrame{}, err
	}
	n := binary.LittleEndian.Uint32(b[9:])
	if binary.LittleEndian.Uint32(b[0:]) != abortMagic || n > maxReasonLen {
		return abortFrame{}, errors.New("unexpected bytes on the reverse channel")
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return abortFrame{}, err
	}
	return abortFrame{origin: int(binary.LittleEndian.Uint32(b[4:])), closing: b[8] == 1, reason: string(msg)}, nil
}

// hostBytes views a host tensor's elements as bytes, without copying.
func hostBytes(t *tensor.Tensor) []byte {
	if t.Numel() == 0 {
		return nil
	}
	switch t.DType() {
	case tensor.Float32:
		f := t.Float32s()
		return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f))
	case tensor.Float64:
		f := t.Float64s()
		return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 8*len(f))
	}
	panic("cluster: hostBytes on " + t.DType().String())
}

// reducer adds src into dst (both byte views of whole elements) and, when
// div is not 1, divides the result by it.
type reducer func(dst, src []byte, div int)

func reduceFloat32(dst, src []byte, div int) {
	if len(dst) == 0 {
		return
	}
	d := unsafe.Slice((*float32)(unsafe.Pointer(&dst[0])), len(dst)/4)
	s := unsafe.Slice((*float32)(unsafe.Pointer(&src[0])), len(src)/4)
	s = s[:len(d)]
	for i := range d {
		d[i] += s[i]
	}
	if div != 1 {
		f := float32(div)
		for i := range d {
			d[i] /= f
		}
	}
}

func reduceFloat64(dst, src []byte, div int) {
	if len(dst) == 0 {
		return
	}
	d := unsafe.Slice((*float64)(unsafe.Pointer(&dst[0])), len(dst)/8)
	s := unsafe.Slice((*float64)(unsafe.Pointer(&src[0])), len(src)/8)
	s = s[:len(d)]
	for i := range d {
		d[i] += s[i]
	}
	if div != 1 {
		f := float64(div)
		for i := range d {
			d[i] /= f
		}
	}
}
