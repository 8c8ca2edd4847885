package nccl

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/collective"
	"github.com/fdsm-go/fdsm/tensor/cuda/emu"
)

// TestGroupCommSharesRankZerosID: the ranks of a group join one NCCL
// communicator with the unique id rank 0 made, sent over the control
// ring (the fake logs a hash of the id each rank passed), and each gets a
// desync-checked communicator over its device's tensors.
func TestGroupCommSharesRankZerosID(t *testing.T) {
	be, err := emu.NewBackend(emu.Options{})
	if err != nil {
		t.Skip(err)
	}
	defer be.Close()
	f := newFake(t, map[string]string{"FAKE_NCCL_INIT_RESULT": "0"})
	control := collective.NewLocalComms(3, 10*time.Second)
	comms := make([]collective.Comm, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			comms[r], errs[r] = newGroupComm(context.Background(), f.lib, be, control[r], time.Second)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	id, _ := uniqueID(f.lib)
	want := fmt.Sprintf("id=%08x", fnv1a(id[:]))
	for r := range 3 {
		line := f.find(fmt.Sprintf("init nranks=3 rank=%d ", r))
		if !strings.HasSuffix(line, want) {
			t.Errorf("rank %d joined with %q, want rank 0's %s", r, line, want)
		}
		if comms[r].Rank() != r || comms[r].Size() != 3 || collective.DeviceBackendOf(comms[r]) != be {
			t.Errorf("rank %d: communicator %d of %d on %v", r, comms[r].Rank(), comms[r].Size(), collective.DeviceBackendOf(comms[r]))
		}
	}
}

// fnv1a is the fake's hash of an id.
func fnv1a(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return h
}
