package collective

import (
	"context"
	"encoding"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"unsafe"

	"github.com/fdsm-go/fdsm/tensor"
)

// Message is a typed control message (step statistics, an operator's
// command, a replica's state hash): control traffic travels as messages of
// its own on a host communicator, apart from gradient buffers, as c10d
// keeps gloo beside NCCL. Kind names the message type; ranks that exchange
// messages of different kinds fail with ErrDesync rather than decode one
// as the other.
type Message interface {
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
	MessageKind() string
}

// Exchange all-gathers one message per rank: out[r] is rank r's message.
// PT is a pointer to T implementing Message (Exchange[StepStats](ctx, c,
// &mine)). c must take host tensors (the control ring).
func Exchange[T any, PT interface {
	*T
	Message
}](ctx context.Context, c Comm, msg PT) ([]T, error) {
	payload, err := encodeMessage(msg)
	if err != nil {
		return nil, err
	}
	all, err := AllGatherBytes(ctx, c, payload)
	if err != nil {
		return nil, fmt.Errorf("exchanging %s: %w", msg.MessageKind(), err)
	}
	out := make([]T, len(all))
	for r, b := range all {
		if err := decodeMessage(PT(&out[r]), b, r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// BroadcastMessage makes every rank's msg root's.
func BroadcastMessage(ctx context.Context, c Comm, root int, msg Message) error {
	var payload []byte
	if c.Rank() == root {
		var err error
		if payload, err = encodeMessage(msg); err != nil {
			return err
		}
	}
	b, err := BroadcastBytes(ctx, c, root, payload)
	if err != nil {
		return fmt.Errorf("broadcasting %s: %w", msg.MessageKind(), err)
	}
	return decodeMessage(msg, b, root)
}

// A message travels as its kind's 64-bit FNV-1a hash, then its binary form.
const kindTagLen = 8

func kindTag(kind string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(kind))
	return h.Sum64()
}

func encodeMessage(msg Message) ([]byte, error) {
	body, err := msg.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", msg.MessageKind(), err)
	}
	return append(binary.LittleEndian.AppendUint64(nil, kindTag(msg.MessageKind())), body...), nil
}

func decodeMessage(msg Message, b []byte, from int) error {
	if len(b) < kindTagLen || binary.LittleEndian.Uint64(b) != kindTag(msg.MessageKind()) {
		return fmt.Errorf("%w: rank %d sent another message where a %s was expected", ErrDesync, from, msg.MessageKind())
	}
	if err := msg.UnmarshalBinary(b[kindTagLen:]); err != nil {
		return fmt.Errorf("decoding rank %d's %s: %w", from, msg.MessageKind(), err)
	}
	return nil
}

// BroadcastBytes sends root's data to every rank and returns it (root gets
// data back); data is ignored on other ranks. Bytes travel in the words of
// float64 host tensors: broadcast copies bits without arithmetic, so any
// byte string survives.
func BroadcastBytes(ctx context.Context, c Comm, root int, data []byte) ([]byte, error) {
	n := tensor.NewHost(tensor.Float64, 1)
	n.Float64s()[0] = float64(len(data))
	if err := c.Broadcast(ctx, n, root); err != nil {
		return nil, err
	}
	size := int(n.Float64s()[0])
	if size < 0 || float64(size) != n.Float64s()[0] {
		return nil, fmt.Errorf("broadcast bytes: bad length %v from rank %d", n.Float64s()[0], root)
	}
	w := tensor.NewHost(tensor.Float64, (size+7)/8)
	buf := wordBytes(w)
	if c.Rank() == root {
		copy(buf, data)
	}
	if err := c.Broadcast(ctx, w, root); err != nil {
		return nil, err
	}
	return buf[:size], nil
}

// AllGatherBytes gathers a byte string from every rank (of any lengths):
// out[r] is rank r's data. Lengths travel first, then every string padded
// to the longest, in float64 words as BroadcastBytes sends them.
func AllGatherBytes(ctx context.Context, c Comm, data []byte) ([][]byte, error) {
	n := c.Size()
	lens := tensor.NewHost(tensor.Float64, n)
	mine := tensor.NewHost(tensor.Float64, 1)
	mine.Float64s()[0] = float64(len(data))
	if err := c.AllGather(ctx, mine, lens); err != nil {
		return nil, err
	}
	longest := 0
	for r, l := range lens.Float64s() {
		if l < 0 || l != float64(int(l)) {
			return nil, fmt.Errorf("gather bytes: bad length %v from rank %d", l, r)
		}
		longest = max(longest, int(l))
	}
	words := (longest + 7) / 8
	send := tensor.NewHost(tensor.Float64, words)
	copy(wordBytes(send), data)
	recv := tensor.NewHost(tensor.Float64, n*words)
	if err := c.AllGather(ctx, send, recv); err != nil {
		return nil, err
	}
	all := wordBytes(recv)
	out := make([][]byte, n)
	for r := range out {
		out[r] = all[r*words*8 : r*words*8+int(lens.Float64s()[r])]
	}
	return out, nil
}

// wordBytes views a float64 host tensor's words as bytes.
func wordBytes(t *tensor.Tensor) []byte {
	f := t.Float64s()
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), len(f)*8)
}
