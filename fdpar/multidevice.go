package fdpar

import (
	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// MultiDevice spreads a plan's blocks over a group of devices: block i of
// B goes to device i·k/B of k (contiguous groups whose sizes differ by at
// most one, e.g. 3 blocks on 2 devices: 2 and 1), each group's stacked
// input is moved to its device (autodiff.To), evaluated there, and the
// values come back to the lead device, x's. The evaluation must run on the
// device of its input: models.Replicate makes a model do that.
//
// Every group's evaluation is issued before any value is brought back, so
// devices that queue work (GPUs, devsim) evaluate their blocks at the same
// time; gradients flow back through the transfers to each device's
// replica. Devices[0] should be the lead.
type MultiDevice struct {
	Devices []tensor.Backend
}

// Run implements Executor.
func (e MultiDevice) Run(p Plan, x, v *ad.Var, f Evaluate) *ad.Var {
	lead := x.Value().Backend()
	groups := Assign(p.Blocks(), len(e.Devices))
	outs := make([]*ad.Var, 0, len(groups))
	for d, blocks := range groups {
		if len(blocks) == 0 {
			continue
		}
		parts := make([]*ad.Var, len(blocks))
		for j, i := range blocks {
			parts[j] = p.Shifted(x, v, i)
		}
		in := parts[0]
		if len(parts) > 1 {
			in = ad.Concat(0, parts...)
		}
		outs = append(outs, f(ad.To(in, e.Devices[d])))
	}
	for i, o := range outs {
		outs[i] = ad.To(o, lead)
	}
	if len(outs) == 1 {
		return outs[0]
	}
	return ad.Concat(0, outs...)
}

// Assign splits blocks 0..n-1 over k devices in order: device d gets the
// blocks i with i·k/n = d, so the groups are contiguous and their sizes
// differ by at most one. With more devices than blocks some get none.
func Assign(n, k int) [][]int {
	groups := make([][]int, k)
	for i := range n {
		d := i * k / n
		groups[d] = append(groups[d], i)
	}
	return groups
}
