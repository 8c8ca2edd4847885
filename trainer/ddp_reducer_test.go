package trainer

import (
	"context"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/collective"
	"github.com/fdsm-go/fdsm/device"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/objective"
	"github.com/fdsm-go/fdsm/tensor"
)

// TestReducerBucketsOverlapBackward: buckets hold parameters in reverse
// model order within their size limits, and the first bucket is launched
// while backward still runs (before the first layer's gradient is final).
func TestReducerBucketsOverlapBackward(t *testing.T) {
	be := tensor.DefaultCPU()
	m, err := models.Build(models.Spec{Kind: "mlp", Options: map[string]any{"input_dim": 8, "hidden": []any{32, 32, 32}}}, be, tensor.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	params := m.Params()
	comm := collective.NewLocalComms(1, 10*time.Second)[0]
	red, err := newReducer(comm, params, 200, 4500)
	if err != nil {
		t.Fatal(err)
	}
	defer red.close()
	if len(red.buckets) < 3 {
		t.Fatalf("%d buckets; the test wants several", len(red.buckets))
	}
	// Reverse model order, bucket by bucket.
	k := len(params) - 1
	for _, b := range red.buckets {
		bytes := 0
		for _, p := range b.params {
			if p != params[k] {
				t.Fatalf("bucket %d holds %s where %s was expected", b.index, p.Name, params[k].Name)
			}
			k--
			bytes += p.Value.Bytes()
		}
		limit := 4500
		if b.index == 0 {
			limit = 200
		}
		if len(b.params) > 1 && bytes > limit {
			t.Errorf("bucket %d holds %d bytes, limit %d", b.index, bytes, limit)
		}
	}

	x := be.Empty(tensor.Float32, 16, 8)
	be.Random(x, tensor.Normal(0, 1), tensor.NewRNG(1))
	obj, _ := objective.New("fd-ssm", objective.Options{Eps: 0.1})
	tp := autodiff.NewTape(be)
	res, err := obj.Eval(tp, m, objective.Batch{X: x}, tensor.NewRNG(2))
	if err != nil {
		t.Fatal(err)
	}
	red.prepare(context.Background())
	launchedBeforeLast := -1
	reported := 0
	autodiff.BackwardReady(res.Loss, params, func(p *autodiff.Param) {
		reported++
		if reported == len(params) {
			launchedBeforeLast = red.next
		}
		red.ready(p)
	})
	if _, err := red.finish(); err != nil {
		t.Fatal(err)
	}
	if launchedBeforeLast < 1 {
		t.Errorf("no bucket was launched before backward reached the first layer")
	}
}

// deviceComm is a one-rank communicator that takes a device backend's
// tensors (as NCCL does) and records whether it was handed host memory.
type deviceComm struct {
	collective.Comm
	be   tensor.Backend
	host bool
}

func (c *deviceComm) DeviceBackend() tensor.Backend { return c.be }

func (c *deviceComm) AllReduce(_ context.Context, buf *tensor.Tensor, _ collective.ReduceOp) error {
	c.host = c.host || buf.IsHost()
	return nil
}

// TestReducerHandsDeviceBucketsToDeviceComms: with a communicator that
// takes the device's tensors (collective.DeviceMemory), buckets stay on the
// device, with no host copy; with the host ring they are copied.
func TestReducerHandsDeviceBucketsToDeviceComms(t *testing.T) {
	be, err := device.Open("devsim:7")
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.Build(models.Spec{Kind: "mlp", Options: map[string]any{"input_dim": 4, "hidden": []any{8}}}, be, tensor.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Params() {
		p.Grad = be.Zeros(p.Value.DType(), p.Value.Shape()...)
	}
	dc := &deviceComm{Comm: collective.NewLocalComms(1, time.Second)[0], be: be}
	for _, c := range []collective.Comm{dc, collective.WithDesyncCheck(dc, collective.NewLocalComms(1, time.Second)[0])} {
		red, err := newReducer(c, m.Params(), 200, 4500)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range red.buckets {
			if b.host != nil {
				t.Fatalf("bucket %d has a host copy though the communicator takes device tensors", b.index)
			}
		}
		red.prepare(context.Background())
		if _, err := red.finish(); err != nil || dc.host {
			t.Fatalf("finish: %v; host memory handed to the communicator: %v", err, dc.host)
		}
		red.close()
	}
	red, err := newReducer(collective.NewLocalComms(1, time.Second)[0], m.Params(), 200, 4500)
	if err != nil {
		t.Fatal(err)
	}
	defer red.close()
	if red.buckets[0].host == nil {
		t.Fatal("a device bucket for the host ring has no host copy")
	}
}
