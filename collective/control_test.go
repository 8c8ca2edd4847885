package collective_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/collective"
)

// note and vote are two control message kinds for the tests.
type note struct{ Text string }

func (*note) MessageKind() string              { return "test.note" }
func (n *note) MarshalBinary() ([]byte, error) { return []byte(n.Text), nil }
func (n *note) UnmarshalBinary(b []byte) error { n.Text = string(b); return nil }

type vote struct{ Step uint64 }

func (*vote) MessageKind() string { return "test.vote" }
func (v *vote) MarshalBinary() ([]byte, error) {
	return binary.LittleEndian.AppendUint64(nil, v.Step), nil
}
func (v *vote) UnmarshalBinary(b []byte) error {
	if len(b) != 8 {
		return fmt.Errorf("vote: %d bytes", len(b))
	}
	v.Step = binary.LittleEndian.Uint64(b)
	return nil
}

// onRanks runs f on every rank of a fresh in-memory group.
func onRanks(t *testing.T, n int, f func(r int, c collective.Comm) error) []error {
	t.Helper()
	comms := collective.NewLocalComms(n, 10*time.Second)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for r := range n {
		wg.Add(1)
		go func() { defer wg.Done(); errs[r] = f(r, comms[r]) }()
	}
	wg.Wait()
	return errs
}

// TestExchangeMessages: every rank gets every rank's message, of any
// length (empty included), in rank order; BroadcastMessage gives root's.
func TestExchangeMessages(t *testing.T) {
	texts := []string{"", "rank one", "a longer message from rank two, past one word"}
	errs := onRanks(t, 3, func(r int, c collective.Comm) error {
		all, err := collective.Exchange(context.Background(), c, &note{texts[r]})
		if err != nil {
			return err
		}
		for q, m := range all {
			if m.Text != texts[q] {
				return fmt.Errorf("rank %d's message arrived as %q", q, m.Text)
			}
		}
		got := &note{Text: "not root's"}
		if r == 1 {
			got.Text = texts[1]
		}
		if err := collective.BroadcastMessage(context.Background(), c, 1, got); err != nil {
			return err
		}
		if got.Text != texts[1] {
			return fmt.Errorf("broadcast gave %q", got.Text)
		}
		return nil
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// TestExchangeKindMismatch: a rank that sends another kind of message is a
// desync every rank reports, not a message decoded as the wrong type.
func TestExchangeKindMismatch(t *testing.T) {
	errs := onRanks(t, 2, func(r int, c collective.Comm) error {
		if r == 1 {
			_, err := collective.Exchange(context.Background(), c, &vote{Step: 8})
			return err
		}
		_, err := collective.Exchange(context.Background(), c, &note{"12345678"}) // 8 bytes, as a vote is
		return err
	})
	for r, err := range errs {
		if !errors.Is(err, collective.ErrDesync) {
			t.Fatalf("rank %d: %v, want ErrDesync", r, err)
		}
	}
}

// TestAllGatherBytes: byte strings of different lengths, including ones
// that do not fill a word, survive bit for bit.
func TestAllGatherBytes(t *testing.T) {
	data := [][]byte{{0xff, 0, 0x7f, 0xf0, 0, 0, 0, 0xf8, 1}, {}, bytes.Repeat([]byte{0xaa}, 17)}
	errs := onRanks(t, 3, func(r int, c collective.Comm) error {
		all, err := collective.AllGatherBytes(context.Background(), c, data[r])
		if err != nil {
			return err
		}
		for q := range all {
			if !bytes.Equal(all[q], data[q]) {
				return fmt.Errorf("rank %d's bytes arrived as %x", q, all[q])
			}
		}
		return nil
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}
