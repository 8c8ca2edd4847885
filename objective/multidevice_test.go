package objective

import (
	"fmt"
	"testing"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/device"
	"github.com/fdsm-go/fdsm/fdpar"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/tensor/cuda"
	"github.com/fdsm-go/fdsm/tensor/cuda/emu"
)

// evalReplicated evaluates objective name with the plan's blocks spread over
// devices (fdpar.MultiDevice on replicas of m) and returns the loss and the
// lead's parameter gradients after the replicas' gradients were reduced
// into them.
func evalReplicated(t *testing.T, name string, o Options, m models.Model, devices []tensor.Backend, b Batch) (float64, [][]float64) {
	t.Helper()
	rm, err := models.Replicate(m, devices)
	if err != nil {
		t.Fatal(err)
	}
	r := models.ReplicasOf(rm)
	o.Executor = fdpar.MultiDevice{Devices: devices}
	obj, err := New(name, o)
	if err != nil {
		t.Fatal(err)
	}
	tp := ad.NewTape(cpu)
	defer tp.Reset()
	res, err := obj.Eval(tp, rm, b, tensor.NewRNG(9))
	if err != nil {
		t.Fatal(err)
	}
	var all []*ad.Param
	for i := range devices {
		all = append(all, r.Replica(i).Params()...)
	}
	ad.ZeroGrad(all)
	ad.Backward(res.Loss, all)
	r.ReduceGrads()
	var gs [][]float64
	for _, p := range m.Params() {
		gs = append(gs, p.Grad.ToFloat64s())
		p.Grad = nil
	}
	return res.Loss.Item(), gs
}

// TestMultiDeviceStepEqualsOneDevice: every FD objective's loss and
// gradients with its evaluations spread over k = 1..4 devices (CPU
// backends of their own, simulated devices, or lanes of one emulated GPU,
// each with a stream and memory pool of its own) equal the one-device
// batched evaluation's, in float64 to 1e-12 relative. The arithmetic per
// row is the same; only the rows' grouping into GEMMs and the order of the
// gradient sums over devices differ, as they do for the one-device
// Sequential executor (one call per block). Where a stencil's cancellation
// makes that regrouping alone cost more than 1e-12 (the 5-point stencils:
// Sequential differs from Batched by 2.5e-12), the bound is twice the
// Sequential executor's difference; the loss, the same combination of the
// evaluations, has the same bound. The emulated GPU's GEMMs sum in another
// order than the CPU's, which is such a regrouping: its 5-point stencil
// loss differs by 1.7e-12 (bound 5e-12).
func TestMultiDeviceStepEqualsOneDevice(t *testing.T) {
	mlp := smallMLP(t)
	ncsn, err := models.Build(models.Spec{Kind: "ncsn", Options: map[string]any{"channels": 1, "image_size": 4, "ngf": 6, "num_levels": 3, "activation": "softplus"}}, cpu, tensor.Float64, 2)
	if err != nil {
		t.Fatal(err)
	}
	s1, _ := fdpar.HigherAccuracy(1, 4)
	s2, _ := fdpar.HigherAccuracy(2, 3)
	eb := Batch{X: randT(19, tensor.Normal(0, 1), 4, 3), V: sphereT(20, 0.1, 4, 3), Noise: randT(21, tensor.Normal(0, 1), 4, 3)}
	sb := Batch{X: randT(16, tensor.Normal(0.5, 0.3), 2, 1, 4, 4), V: sphereT(17, 0.1, 2, 16).Reshape(2, 1, 4, 4),
		Noise: randT(18, tensor.Normal(0, 1), 2, 1, 4, 4), Levels: []int{0, 2}}
	cases := []struct {
		name string
		o    Options
		m    models.Model
		b    Batch
	}{
		{"fd-ssm", Options{}, mlp, eb},
		{"fd-dsm", Options{}, mlp, eb},
		{"fd-mdsm", Options{}, mlp, eb},
		{"fd-ssm-stencil", Options{FirstOrder: &s1, SecondOrder: &s2}, mlp, eb},
		{"fd-ssmvr", Options{Projection: Sphere}, ncsn, sb},
	}
	kinds := []string{"cpu", "devsim"}
	var gpu *emu.Device // one emulated GPU whose lanes are the devices
	if emu.Available {
		if gpu, err = emu.New(emu.Options{}); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, "cuda-emu lanes")
	}
	for _, kind := range kinds {
		for k := 1; k <= 4; k++ {
			devices := []tensor.Backend{cpu}
			for i := 1; i < k; i++ {
				var d tensor.Backend
				var err error
				switch kind {
				case "cpu":
					d = tensor.NewCPU()
				case "devsim":
					d, err = device.Open(fmt.Sprintf("devsim:%d", i))
				default: // a stream and memory pool of their own on one GPU, as gpu.OpenLane
					d, err = cuda.New(gpu, cuda.Options{Name: fmt.Sprintf("cuda-emu:0/%d", i)})
				}
				if err != nil {
					t.Fatal(err)
				}
				devices = append(devices, d)
			}
			for _, c := range cases {
				wantLoss, _, want := evalLoss(t, c.name, c.o, c.m, c.b)
				seq := c.o
				seq.Sequential = true
				_, _, regrouped := evalLoss(t, c.name, seq, c.m, c.b)
				dSeq, _ := relDiffAndCos(flatten(regrouped), flatten(want))
				tol := max(1e-12, 2*dSeq)
				loss, got := evalReplicated(t, c.name, c.o, c.m, devices, c.b)
				if !close(loss, wantLoss, tol) {
					t.Errorf("%s, %d %s devices: loss %v, one device %v (bound %g)", c.name, k, kind, loss, wantLoss, tol)
				}
				if d, _ := relDiffAndCos(flatten(got), flatten(want)); d > tol {
					t.Errorf("%s, %d %s devices: gradients differ from one device's by %g (bound %g)", c.name, k, kind, d, tol)
				}
			}
		}
	}
}

// TestAssignBalancesBlocks: blocks go to devices in order, in groups whose
// sizes differ by at most one.
func TestAssignBalancesBlocks(t *testing.T) {
	for _, c := range []struct {
		n, k int
		want string
	}{{3, 2, "[[0 1] [2]]"}, {2, 2, "[[0] [1]]"}, {5, 3, "[[0 1] [2 3] [4]]"}, {3, 1, "[[0 1 2]]"}, {2, 3, "[[0] [1] []]"}} {
		if got := fmt.Sprint(fdpar.Assign(c.n, c.k)); got != c.want {
			t.Errorf("Assign(%d, %d) = %s, want %s", c.n, c.k, got, c.want)
		}
	}
}
