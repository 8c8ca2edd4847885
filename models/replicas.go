package models

import (
	"fmt"

	"github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// Replicas is one model held on a group of devices, for fdpar's
// multi-device executor: the lead (replica 0, whose parameters the
// optimizer updates) and a copy on each other device. Its forward methods
// run on the device of their input, with the replica there, so an
// evaluation moved to a device (autodiff.To) computes there and its
// gradients land in that replica's parameters; ReduceGrads gathers them
// into the lead's and SyncParams copies the lead's values back out.
//
// Threading: as the models it holds; ReduceGrads and SyncParams run on the
// training goroutine between steps.
type Replicas struct {
	models  []Model
	devices []tensor.Backend
}

// Replicate builds a copy of lead on every device after the first
// (devices[0] must be lead's) from lead's spec, with lead's parameter
// values. It returns a model of lead's kind: an Energy for an Energy, a
// Score for a Score. Models that fit part of themselves to each batch
// (BatchFitter) cannot be replicated this way.
func Replicate(lead Model, devices []tensor.Backend) (Model, error) {
	if len(devices) == 0 || lead.Params()[0].Value.Backend() != devices[0] {
		return nil, fmt.Errorf("models: replicate %s: the first device must be the lead model's", lead.Spec().Kind)
	}
	if _, ok := lead.(BatchFitter); ok {
		return nil, fmt.Errorf("models: %s fits itself to each batch and cannot be spread over devices", lead.Spec().Kind)
	}
	r := &Replicas{models: []Model{lead}, devices: devices}
	for _, be := range devices[1:] {
		m, err := Build(lead.Spec(), be, lead.DType(), 1)
		if err != nil {
			return nil, err
		}
		if err := copyBuffers(m, lead); err != nil {
			return nil, err
		}
		r.models = append(r.models, m)
	}
	r.SyncParams()
	switch lead.(type) {
	case Score:
		return scoreReplicas{r}, nil
	case Energy:
		return energyReplicas{r}, nil
	}
	return nil, fmt.Errorf("models: %s is neither an energy nor a score model", lead.Spec().Kind)
}

// copyBuffers copies lead's buffers (fitted, not trained: a PCA subspace)
// into the replica dst, which has the same names and shapes.
func copyBuffers(dst, lead Model) error {
	lb, ok := lead.(Buffered)
	if !ok {
		return nil
	}
	db := dst.(Buffered).Buffers()
	for name, t := range lb.Buffers() {
		d, ok := db[name]
		if !ok || !d.Shape().Equal(t.Shape()) {
			return fmt.Errorf("models: replica of %s lacks buffer %q %v", lead.Spec().Kind, name, t.Shape())
		}
		autodiff.CopyAcross(d, t)
	}
	return nil
}

// ReplicasOf returns the replicas behind a model from Replicate, or nil.
func ReplicasOf(m Model) *Replicas {
	switch r := m.(type) {
	case energyReplicas:
		return r.Replicas
	case scoreReplicas:
		return r.Replicas
	}
	return nil
}

// Devices returns the group's devices, the lead's first.
func (r *Replicas) Devices() []tensor.Backend { return r.devices }

// Replica returns the model on device i.
func (r *Replicas) Replica(i int) Model { return r.models[i] }

// on returns the replica on be.
func (r *Replicas) on(be tensor.Backend) Model {
	for i, d := range r.devices {
		if d == be {
			return r.models[i]
		}
	}
	panic(fmt.Sprintf("models: no replica of %s on %s", r.Spec().Kind, be.Name()))
}

// ReduceGrads adds every replica's parameter gradients into the lead's and
// zeroes theirs (device copies through autodiff.CopyAcross, then adds on
// the lead's device).
func (r *Replicas) ReduceGrads() {
	lead := r.models[0].Params()
	for _, m := range r.models[1:] {
		for i, p := range m.Params() {
			if p.Grad == nil {
				continue
			}
			l := lead[i]
			be := l.Value.Backend()
			if l.Grad == nil {
				l.Grad = be.Zeros(l.Value.DType(), l.Value.Shape()...)
			}
			moved := be.Empty(p.Grad.DType(), p.Grad.Shape()...)
			autodiff.CopyAcross(moved, p.Grad)
			be.Binary(tensor.OpAdd, l.Grad, l.Grad, moved)
			be.Release(moved)
			p.Grad.Backend().Fill(p.Grad, 0)
		}
	}
}

// SyncParams copies the lead's parameter values to every replica.
func (r *Replicas) SyncParams() {
	lead := r.models[0].Params()
	for _, m := range r.models[1:] {
		for i, p := range m.Params() {
			autodiff.CopyAcross(p.Value, lead[i].Value)
		}
	}
}

// The Model methods are the lead's.

func (r *Replicas) Spec() Spec                { return r.models[0].Spec() }
func (r *Replicas) Params() []*autodiff.Param { return r.models[0].Params() }
func (r *Replicas) InputShape() []int         { return r.models[0].InputShape() }
func (r *Replicas) DType() tensor.DType       { return r.models[0].DType() }

type energyReplicas struct{ *Replicas }

// LogDensity evaluates on x's device.
func (r energyReplicas) LogDensity(x *autodiff.Var) *autodiff.Var {
	return r.on(x.Value().Backend()).(Energy).LogDensity(x)
}

type scoreReplicas struct{ *Replicas }

func (r scoreReplicas) Levels() int { return r.models[0].(Score).Levels() }

// Sigmas is the lead's noise schedule, or nil when it has none.
func (r scoreReplicas) Sigmas() []float64 {
	if s, ok := r.models[0].(interface{ Sigmas() []float64 }); ok {
		return s.Sigmas()
	}
	return nil
}

// Score evaluates on x's device, with the levels moved there.
func (r scoreReplicas) Score(x, y *autodiff.Var) *autodiff.Var {
	be := x.Value().Backend()
	return r.on(be).(Score).Score(x, autodiff.To(y, be))
}
