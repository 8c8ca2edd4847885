package bench

import (
	"fmt"
	"math"
	"time"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/fdpar"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/objective"
	"github.com/fdsm-go/fdsm/tensor"
)

// FDParOptions size the device-group benchmark: one FD objective step on
// one device against the same step with its evaluations spread over a
// group of devices (fdpar.MultiDevice on models.Replicate).
type FDParOptions struct {
	Spec      models.Spec
	DType     tensor.DType
	Objective string            // an FD objective, e.g. fd-ssm
	Options   objective.Options // its options (Executor is set here)
	Devices   []tensor.Backend  // the group, lead first
	Batch     int               // default 64
	Rounds    int               // timed steps, the median reported; default 5
}

// FDParResult is the benchmark (JSON as `fdsm bench fdpar --json` prints it).
type FDParResult struct {
	Devices   []string `json:"devices"`
	Model     string   `json:"model"`
	Objective string   `json:"objective"`
	Batch     int      `json:"batch"`
	DType     string   `json:"dtype"`
	// OneDeviceMs and GroupMs: the median step (objective, backward, and
	// for the group the gathering of the replicas' gradients), which
	// GroupReduceMs is part of.
	OneDeviceMs   float64 `json:"one_device_ms"`
	GroupMs       float64 `json:"group_ms"`
	GroupReduceMs float64 `json:"group_reduce_ms"`
	// Per device, per group step: bytes copied to and from the host (the
	// transfers of inputs, values and cotangents go through it for now),
	// and the engine's peak memory.
	H2DBytes  []int64 `json:"h2d_bytes_per_step"`
	D2HBytes  []int64 `json:"d2h_bytes_per_step"`
	PeakBytes []int64 `json:"peak_bytes"`
	// MaxGradRelDiff is the largest difference between the group's and
	// the one-device step's gradient entries on the same batch, in
	// float64, relative to the largest entry of the whole gradient (not
	// per parameter: a parameter an FD objective cannot move, such as the
	// last layer's bias, has a gradient of pure rounding noise).
	MaxGradRelDiff float64 `json:"max_grad_rel_diff"`
	// SequentialGradRelDiff is the same measure for one device evaluating
	// block by block (fdpar.Sequential) instead of in one batch: what
	// regrouping the rows alone costs, for scale.
	SequentialGradRelDiff float64 `json:"sequential_grad_rel_diff"`
}

// FDPar runs the benchmark.
func FDPar(o FDParOptions) (FDParResult, error) {
	if o.Batch <= 0 {
		o.Batch = 64
	}
	if o.Rounds <= 0 {
		o.Rounds = 5
	}
	if len(o.Devices) == 0 {
		return FDParResult{}, fmt.Errorf("bench fdpar: no devices")
	}
	res := FDParResult{Model: o.Spec.Kind, Objective: o.Objective, Batch: o.Batch, DType: o.DType.String()}
	for _, d := range o.Devices {
		res.Devices = append(res.Devices, d.Name())
	}
	diff, err := fdparGradDiff(o, o.Devices, nil)
	if err != nil {
		return res, err
	}
	res.MaxGradRelDiff = diff
	if res.SequentialGradRelDiff, err = fdparGradDiff(o, o.Devices[:1], fdpar.Sequential{}); err != nil {
		return res, err
	}
	one, err := newFDParStep(o, o.DType, o.Devices[:1])
	if err != nil {
		return res, err
	}
	group, err := newFDParStep(o, o.DType, o.Devices)
	if err != nil {
		return res, err
	}
	one.run() // warm-up: pools, constants
	group.run()
	before := make([]tensor.TransferStats, len(o.Devices))
	for i, d := range o.Devices {
		before[i] = d.Transfers()
		d.ResetPeak()
	}
	oneMs, groupMs, reduceMs := make([]float64, o.Rounds), make([]float64, o.Rounds), make([]float64, o.Rounds)
	for r := range o.Rounds {
		oneMs[r], _ = one.run()
		groupMs[r], reduceMs[r] = group.run()
	}
	res.OneDeviceMs, res.GroupMs, res.GroupReduceMs = median(oneMs), median(groupMs), median(reduceMs)
	for i, d := range o.Devices {
		t := d.Transfers().Sub(before[i])
		res.H2DBytes = append(res.H2DBytes, t.H2DBytes/int64(2*o.Rounds)) // both steps ran on the lead
		res.D2HBytes = append(res.D2HBytes, t.D2HBytes/int64(2*o.Rounds))
		res.PeakBytes = append(res.PeakBytes, d.MemStats().PeakBytes)
	}
	return res, nil
}

// fdparStep is one model (replicated over its devices) with its objective
// and a fixed batch.
type fdparStep struct {
	m      models.Model
	rm     models.Model
	obj    objective.Objective
	batch  objective.Batch
	params []*ad.Param // every replica's
	group  *models.Replicas
	lead   tensor.Backend
}

func newFDParStep(o FDParOptions, dt tensor.DType, devices []tensor.Backend) (*fdparStep, error) {
	return newFDParStepWith(o, dt, devices, nil)
}

// newFDParStepWith uses exec on one device when it is not nil.
func newFDParStepWith(o FDParOptions, dt tensor.DType, devices []tensor.Backend, exec fdpar.Executor) (*fdparStep, error) {
	m, err := models.Build(o.Spec, devices[0], dt, 1)
	if err != nil {
		return nil, err
	}
	s := &fdparStep{m: m, rm: m, params: m.Params(), lead: devices[0]}
	opts := o.Options
	if len(devices) > 1 {
		if s.rm, err = models.Replicate(m, devices); err != nil {
			return nil, err
		}
		s.group = models.ReplicasOf(s.rm)
		s.params = nil
		for i := range devices {
			s.params = append(s.params, s.group.Replica(i).Params()...)
		}
		opts.Executor = fdpar.MultiDevice{Devices: devices}
	}
	if exec != nil {
		opts.Executor = exec
	}
	if s.obj, err = objective.New(o.Objective, opts); err != nil {
		return nil, err
	}
	x := devices[0].Empty(dt, append([]int{o.Batch}, m.InputShape()...)...)
	devices[0].Random(x, tensor.Normal(0.5, 0.3), tensor.NewRNG(7))
	s.batch = objective.Batch{X: x}
	if sc, ok := m.(models.Score); ok {
		s.batch.Levels = make([]int, o.Batch)
		for i := range s.batch.Levels {
			s.batch.Levels[i] = i % sc.Levels()
		}
	}
	return s, nil
}

// run takes one step (fixed randomness, so every run draws the same
// directions) and returns its time and the group reduce's, in ms; the
// gradients stay in the lead's parameters.
func (s *fdparStep) run() (stepMs, reduceMs float64) {
	ad.ZeroGrad(s.params)
	t0 := time.Now()
	tp := ad.NewTape(s.lead)
	defer tp.Reset()
	r, err := s.obj.Eval(tp, s.rm, s.batch, tensor.NewRNG(9))
	if err != nil {
		panic(err)
	}
	ad.Backward(r.Loss, s.params)
	t1 := time.Now()
	if s.group != nil {
		s.group.ReduceGrads()
	}
	if err := s.lead.Sync(); err != nil {
		panic(err)
	}
	return time.Since(t0).Seconds() * 1e3, time.Since(t1).Seconds() * 1e3
}

// fdparGradDiff compares the gradients of a step over devices (with exec
// when it is not nil) with the one-device batched step's on the same
// batch, in float64.
func fdparGradDiff(o FDParOptions, devices []tensor.Backend, exec fdpar.Executor) (float64, error) {
	one, err := newFDParStep(o, tensor.Float64, o.Devices[:1])
	if err != nil {
		return 0, err
	}
	group, err := newFDParStepWith(o, tensor.Float64, devices, exec)
	if err != nil {
		return 0, err
	}
	one.run()
	group.run()
	scale, worst := 0.0, 0.0
	for i, p := range one.m.Params() {
		if p.Grad == nil {
			continue
		}
		a, b := p.Grad.ToFloat64s(), group.m.Params()[i].Grad.ToFloat64s()
		for k := range a {
			scale = math.Max(scale, math.Abs(a[k]))
			worst = math.Max(worst, math.Abs(a[k]-b[k]))
		}
	}
	if scale == 0 {
		return 0, fmt.Errorf("bench fdpar: the one-device gradient is zero")
	}
	return worst / scale, nil
}

func (r FDParResult) String() string {
	return fmt.Sprintf("fdpar: %s %s, batch %d, %s on %v\n  one device %.2f ms a step; the group %.2f ms (gathering gradients %.2f ms)\n"+
		"  host copies per step (to/from) %v / %v bytes; peak memory %v bytes\n"+
		"  max gradient difference (float64) %.3g; one device block by block: %.3g\n",
		r.Objective, r.Model, r.Batch, r.DType, r.Devices, r.OneDeviceMs, r.GroupMs, r.GroupReduceMs,
		r.H2DBytes, r.D2HBytes, r.PeakBytes, r.MaxGradRelDiff, r.SequentialGradRelDiff)
}
