package trainer

import (
	"github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// deviceSteps keeps one process's step decisions on the backend, as a
// gradient scaler keeps its found-inf flag: the loss summed over
// micro-batches, the global gradient norm (one SumSquares), the clip
// factor, and the flag that skips a bad step inside the fused optimizer
// update. Running totals (skipped steps, bad steps in a row) stay there
// too; the host reads them with the last loss and norm once per logging
// interval (read), so a step enqueues work and never waits.
//
// Threading: used by the training goroutine only.
type deviceSteps struct {
	be         tensor.Backend
	accumulate float64
	clip       float64
	maxLoss    float64

	loss *tensor.Tensor // [1] the step's summed micro-batch losses
	mean *tensor.Tensor // [1] their mean
	norm *tensor.Tensor // [1] the global gradient norm of the mean gradient
	mult *tensor.Tensor // [1] clip factor / accumulate
	ok   *tensor.Tensor // [1] 1: apply the update, 0: skip it
	tmp  *tensor.Tensor // [1]

	lossGood *tensor.Tensor   // [1] 1: the mean loss is acceptable
	poisonT  *tensor.Tensor   // [1] data parallel: 1, or NaN after a bad loss
	gateT    *tensor.Tensor   // [2] mult, ok: the optimizer's gate
	stats    *tensor.Tensor   // [4] loss, grad norm, skipped steps, bad steps in a row
	grads    []*tensor.Tensor // the step's gradients, reused so a step allocates no list
}

// stepStats are deviceSteps' totals as the host reads them.
type stepStats struct {
	loss, gradNorm       float64
	skipped, consecutive int
}

// newDeviceSteps allocates the buffers on be in dt, with the skip counters
// of a resumed run.
func newDeviceSteps(be tensor.Backend, dt tensor.DType, cfg Config, skipped, consecutive int) *deviceSteps {
	one := func() *tensor.Tensor { return be.Zeros(dt, 1) }
	d := &deviceSteps{be: be, accumulate: float64(max(cfg.Accumulate, 1)), clip: clipOf(cfg), maxLoss: cfg.BadSteps.MaxLoss,
		loss: one(), mean: one(), norm: one(), mult: one(), ok: one(), tmp: one(), lossGood: one(), poisonT: one(),
		gateT: be.Zeros(dt, 2), stats: be.Empty(dt, 4)}
	tensor.WriteAs(d.stats, []float64{0, 0, float64(skipped), float64(consecutive)})
	return d
}

// addLoss adds a micro-batch's loss [1] (or [] ) to the step's sum.
func (d *deviceSteps) addLoss(loss *tensor.Tensor, first bool) {
	l := loss.Reshape(1)
	if first {
		d.be.Copy(d.loss, l)
		return
	}
	d.be.Binary(tensor.OpAdd, d.loss, d.loss, l)
}

// lossOK sets dst to 1 when the mean loss is finite and, with checkMax, at
// most bad_steps.max_loss, else 0; it sets d.mean first.
func (d *deviceSteps) lossOK(dst *tensor.Tensor, checkMax bool) {
	be := d.be
	be.ScalarOp(tensor.OpMul, d.mean, d.loss, 1/d.accumulate, false)
	finite(be, dst, d.mean)
	if checkMax {
		be.ScalarOp(tensor.OpGreater, d.tmp, d.mean, d.maxLoss, false)
		be.ScalarOp(tensor.OpSub, d.tmp, d.tmp, 1, true) // 1 - [mean > maxLoss]
		be.Binary(tensor.OpMul, dst, dst, d.tmp)
	}
}

// finite sets dst to 1 where x is finite, else 0: x-x is 0 exactly when x
// is finite.
func finite(be tensor.Backend, dst, x *tensor.Tensor) {
	be.Binary(tensor.OpSub, dst, x, x)
	be.ScalarOp(tensor.OpEqual, dst, dst, 0, false)
}

// poison returns, for a data-parallel rank, 1 when its own loss is good
// and NaN when it is bad (ok/ok: 0/0): multiplied into its gradients before
// they are averaged, a bad rank makes every rank's averaged gradient NaN,
// so every rank's gate skips the step, and no rank reads its loss to agree.
func (d *deviceSteps) poison(checkMax bool) *tensor.Tensor {
	d.lossOK(d.ok, checkMax)
	d.be.Binary(tensor.OpDiv, d.poisonT, d.ok, d.ok)
	return d.poisonT
}

// gate computes the optimizer's gate from the summed loss and gradients:
// mult = min(1, clip/(‖ḡ‖+1e-6))/k for the mean gradient ḡ of k
// micro-batches (PyTorch's clip_grad_norm_ coefficient, with the 1/k of
// accumulation folded in), ok = 1 when ‖ḡ‖ is finite and, with useLoss,
// the mean loss is finite and (checkMax) at most bad_steps.max_loss. Data
// parallel, ranks decide on the averaged gradient alone (identical on
// every rank; a bad loss reached it through poison). It also updates the
// running statistics.
func (d *deviceSteps) gate(params []*autodiff.Param, useLoss, checkMax bool) *tensor.Tensor {
	be, k := d.be, d.accumulate
	if useLoss {
		d.lossOK(d.lossGood, checkMax)
	} else {
		be.ScalarOp(tensor.OpMul, d.mean, d.loss, 1/k, false)
	}
	d.grads = d.grads[:0]
	for _, p := range params {
		if p.Grad != nil {
			d.grads = append(d.grads, p.Grad)
		}
	}
	be.SumSquares(d.norm, d.grads)
	be.Unary(tensor.OpSqrt, d.norm, d.norm)
	be.ScalarOp(tensor.OpMul, d.norm, d.norm, 1/k, false)
	// mult = min(clip/(norm+1e-6), 1)/k
	be.ScalarOp(tensor.OpAdd, d.mult, d.norm, 1e-6, false)
	be.ScalarOp(tensor.OpDiv, d.mult, d.mult, d.clip, true)
	be.ScalarOp(tensor.OpMin, d.mult, d.mult, 1, false)
	be.ScalarOp(tensor.OpMul, d.mult, d.mult, 1/k, false)
	finite(be, d.ok, d.norm)
	if useLoss {
		be.Binary(tensor.OpMul, d.ok, d.ok, d.lossGood)
	}
	be.Concat(d.gateT, []*tensor.Tensor{d.mult, d.ok}, 0)
	d.record()
	return d.gateT
}

// record updates stats: the step's loss and norm, skipped += bad,
// consecutive = (consecutive+1)·bad, with bad = 1 - ok.
func (d *deviceSteps) record() {
	be := d.be
	be.SetSlice(d.stats, d.mean, 0, 0)
	be.SetSlice(d.stats, d.norm, 0, 1)
	bad := d.tmp
	be.ScalarOp(tensor.OpSub, bad, d.ok, 1, true)
	for _, at := range []int{2, 3} {
		be.Slice(d.mult, d.stats, 0, at) // mult is free once the gate holds it
		if at == 2 {
			be.Binary(tensor.OpAdd, d.mult, d.mult, bad)
		} else {
			be.ScalarOp(tensor.OpAdd, d.mult, d.mult, 1, false)
			be.Binary(tensor.OpMul, d.mult, d.mult, bad)
		}
		be.SetSlice(d.stats, d.mult, 0, at)
	}
}

// read returns the statistics: one host synchronisation.
func (d *deviceSteps) read() stepStats {
	v := d.stats.ToFloat64s()
	return stepStats{loss: v[0], gradNorm: v[1], skipped: int(v[2]), consecutive: int(v[3])}
}
