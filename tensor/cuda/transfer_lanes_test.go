package cuda_test

import (
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/tensor/cuda"
	"github.com/fdsm-go/fdsm/tensor/cuda/emu"
)

// TestCopyBetweenLanes: a tensor of one lane of a GPU copies to another
// lane on the device, with no host copy and no host wait, ordered both
// ways: after the work that wrote it, and before its lane writes its memory
// again for another tensor, even while the destination lane is held back.
// Tensors of another device, or of the host, are not copied this way.
func TestCopyBetweenLanes(t *testing.T) {
	a, d := newEmu(t, emu.Options{})
	b, err := cuda.New(d, cuda.Options{Name: "cuda-emu:0/1"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const n = 1000
	want, other := make([]float32, n), make([]float32, n)
	for i := range want {
		want[i], other[i] = float32(i)+0.5, -1
	}
	// The copy waits for the work that writes x: here a write held back.
	x := a.Empty(tensor.Float32, n)
	writing := tensor.NewPendingEvent()
	defer writing.Complete(nil) // a failure below must not leave a's stream held
	a.WaitFor(writing)
	a.WriteFloat32s(x, want)
	early := b.Empty(tensor.Float32, n)
	if !b.CopyFromOther(early, x) {
		t.Fatal("CopyFromOther between two lanes of one device refused")
	}
	copied := b.Record()
	time.Sleep(20 * time.Millisecond)
	if copied.Done() {
		t.Fatal("the copy ran before the work that writes its source")
	}
	writing.Complete(nil)
	got := make([]float32, n)
	b.ReadFloat32s(got, early)
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("element %d copied as %v, want %v", i, got[i], want[i])
		}
	}

	// x's memory is written again only after the copy read it.
	held := tensor.NewPendingEvent()
	defer held.Complete(nil)
	b.WaitFor(held) // b's stream is behind until held completes
	y := b.Empty(tensor.Float32, n)
	beforeA, beforeB := a.Transfers(), b.Transfers()
	if !b.CopyFromOther(y, x) {
		t.Fatal("CopyFromOther between two lanes of one device refused")
	}
	for _, moved := range []tensor.TransferStats{a.Transfers().Sub(beforeA), b.Transfers().Sub(beforeB)} {
		if moved != (tensor.TransferStats{}) {
			t.Errorf("the copy between lanes went through the host: %+v", moved)
		}
	}
	px := a.Ptr(x)
	a.Release(x)
	z := a.Empty(tensor.Float32, n)
	if a.Ptr(z) != px {
		t.Fatal("the allocator did not hand x's memory out again; the test needs it to")
	}
	a.WriteFloat32s(z, other) // must wait for b's copy of x
	held.Complete(nil)
	b.ReadFloat32s(got, y)
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("element %d copied as %v, want %v (the memory was overwritten before the copy read it)", i, got[i], want[i])
		}
	}

	c, _ := newEmu(t, emu.Options{Ordinal: 1})
	w := c.Empty(tensor.Float32, n)
	if b.CopyFromOther(w, y) || c.CopyFromOther(w, tensor.FromFloat64s(tensor.DefaultCPU(), tensor.Float32, tensor.Shape{n}, make([]float64, n))) {
		t.Error("CopyFromOther copied from another device or from the host")
	}
}
