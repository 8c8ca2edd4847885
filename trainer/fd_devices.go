package trainer

import (
	"fmt"

	"github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/collective"
	"github.com/fdsm-go/fdsm/device"
	"github.com/fdsm-go/fdsm/fdpar"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/objective"
	"github.com/fdsm-go/fdsm/tensor"
)

// spreadOver makes env evaluate the FD objective on a group of k devices
// (parallel.fd_devices): a replica of the model on each device of the
// group, the objective's plan spread over them by fdpar.MultiDevice, and
// backward filling every replica's gradients. The optimizer still updates
// the lead (env.params); each step gathers the replicas' gradients into
// the lead's first (group.ReduceGrads) and copies the updated values back
// out (group.SyncParams).
func (env *stepEnv) spreadOver(cfg Config, k int) error {
	names, err := device.Group(cfg.Device, k)
	if err != nil {
		return err
	}
	devices := make([]tensor.Backend, k)
	for i, name := range names {
		if devices[i], err = device.Open(name); err != nil {
			return err
		}
	}
	rm, err := models.Replicate(env.m, devices)
	if err != nil {
		return fmt.Errorf("parallel.fd_devices: %w", err)
	}
	o := cfg.objectiveOptions()
	o.Executor = fdpar.MultiDevice{Devices: devices}
	if env.obj, err = objective.New(cfg.Objective.Name, o); err != nil {
		return err
	}
	env.group, env.evalModel = models.ReplicasOf(rm), rm
	env.gradParams = append([]*autodiff.Param(nil), env.params...)
	index := map[*autodiff.Param]int{}
	for i, p := range env.m.Params() {
		index[p] = i
	}
	for r := 1; r < k; r++ {
		reps := env.group.Replica(r).Params()
		for _, p := range env.params {
			env.gradParams = append(env.gradParams, reps[index[p]])
		}
	}
	return nil
}

// gatherGroup adds the replicas' gradients into the lead's (a no-op on one
// device).
func (env *stepEnv) gatherGroup() {
	if env.group != nil {
		env.group.ReduceGrads()
	}
}

// syncGroup copies the lead's updated parameters to the replicas.
func (env *stepEnv) syncGroup() {
	if env.group != nil {
		env.group.SyncParams()
	}
}

// checkGroup compares a hash of every replica's parameters with the
// lead's: they are copies, and a difference is a bug to stop on.
func (env *stepEnv) checkGroup(step int) error {
	if env.group == nil {
		return nil
	}
	lead := collective.HashTensors(paramTensors(env.group.Replica(0)))
	for r := 1; r < len(env.group.Devices()); r++ {
		if h := collective.HashTensors(paramTensors(env.group.Replica(r))); h != lead {
			return fmt.Errorf("device group check at step %d: the replica on %s differs from the lead's (hash %016x vs %016x)",
				step, env.group.Devices()[r].Name(), h, lead)
		}
	}
	return nil
}
