package nccl

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/collective"
	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/tensor/cuda"
	"github.com/fdsm-go/fdsm/tensor/cuda/emu"
)

// TestDeviceCommPassesTensors: the collective.Comm over device tensors hands
// NCCL each tensor's device address, its element count and NCCL's codes,
// on the backend's own stream (the fake NCCL logs them; the emulated CUDA
// device holds the tensors), and returns once the stream has passed the
// collective. Host tensors and tensors of another backend are refused
// before NCCL is called.
func TestDeviceCommPassesTensors(t *testing.T) {
	be, err := emu.NewBackend(emu.Options{})
	if err != nil {
		t.Skip(err)
	}
	defer be.Close()
	f := newFake(t, nil)
	d := NewDeviceComm(f.newComm(time.Second), be)
	// The fake's communicator has two ranks: b holds two of a.
	a, b := be.Zeros(tensor.Float64, 6), be.Zeros(tensor.Float64, 12)
	pa, pb, st := uintptr(be.Ptr(a)), uintptr(be.Ptr(b)), uintptr(be.Stream())
	ctx := context.Background()
	for _, tc := range []struct {
		call func() error
		want string
	}{
		{func() error { return d.AllReduce(ctx, a, collective.Average) },
			fmt.Sprintf("allreduce send=%#x recv=%#x count=6 dtype=8 op=4 stream=%#x", pa, pa, st)},
		{func() error { return d.Broadcast(ctx, b, 1) },
			fmt.Sprintf("broadcast send=%#x recv=%#x count=12 dtype=8 root=1 stream=%#x", pb, pb, st)},
		{func() error { return d.AllGather(ctx, a, b) },
			fmt.Sprintf("allgather send=%#x recv=%#x count=6 dtype=8 stream=%#x", pa, pb, st)},
		{func() error { return d.ReduceScatter(ctx, b, a, collective.Sum) },
			fmt.Sprintf("reducescatter send=%#x recv=%#x count=6 dtype=8 op=0 stream=%#x", pb, pa, st)},
	} {
		if err := tc.call(); err != nil {
			t.Fatalf("%s: %v", tc.want, err)
		}
		if got := f.find(strings.Fields(tc.want)[0] + " "); got != tc.want {
			t.Errorf("the fake saw\n  %s\nwant\n  %s", got, tc.want)
		}
	}
	calls := len(f.lines())
	for _, bad := range []*tensor.Tensor{tensor.NewHost(tensor.Float64, 6), tensor.NewCPU().Zeros(tensor.Float64, 6)} {
		if err := d.AllReduce(ctx, bad, collective.Sum); err == nil || !strings.Contains(err.Error(), "AllReduce") {
			t.Errorf("a tensor of %s: %v", bad.Backend().Name(), err)
		}
	}
	if len(f.lines()) != calls {
		t.Error("a refused tensor reached NCCL")
	}
	f.checkClean()
}

// TestDeviceCommOnStream: with a communication stream of its own (a lane of
// the backend's GPU), NCCL gets that lane's stream, and a collective waits
// there for the work the backend enqueued before the call (held back here),
// so it cannot read buffers before they are written; a lane of another GPU
// is refused.
func TestDeviceCommOnStream(t *testing.T) {
	be, err := emu.NewBackend(emu.Options{})
	if err != nil {
		t.Skip(err)
	}
	defer be.Close()
	cs, err := cuda.New(be.Device(), cuda.Options{Name: "cuda-emu:0/nccl", Lane: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	f := newFake(t, nil)
	d, err := NewDeviceCommOnStream(f.newComm(5*time.Second), be, cs)
	if err != nil {
		t.Fatal(err)
	}
	a := be.Zeros(tensor.Float32, 4)
	writing := tensor.NewPendingEvent()
	defer writing.Complete(nil) // a failure below must not leave be's stream held
	be.WaitFor(writing)         // be's work before the call is still to run
	done := make(chan error, 1)
	go func() { done <- d.AllReduce(context.Background(), a, collective.Sum) }()
	select {
	case err := <-done:
		t.Fatalf("the all-reduce returned (%v) before the work that writes its buffer ran", err)
	case <-time.After(50 * time.Millisecond):
	}
	writing.Complete(nil)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("allreduce send=%#x recv=%#x count=4 dtype=7 op=0 stream=%#x", uintptr(be.Ptr(a)), uintptr(be.Ptr(a)), uintptr(cs.Stream()))
	if got := f.find("allreduce "); got != want {
		t.Errorf("the fake saw\n  %s\nwant\n  %s", got, want)
	}

	other, err := emu.NewBackend(emu.Options{Ordinal: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := NewDeviceCommOnStream(f.newComm(time.Second), be, other); err == nil {
		t.Error("a communication stream on another GPU was accepted")
	}
}
