package study

import (
	"errors"
	"fmt"

	"github.com/fdsm-go/fdsm/bench"
)

// FitLink fits one level's alpha-beta link to `fdsm bench allreduce` rows
// (ring all-reduces of processes on one node of devicesPerNode devices):
//
//	ms = share · (2(n-1)·α + 2(n-1)/n · S/B),  share = max(1, n/devicesPerNode)
//
// by least squares on the relative error, so that small (latency-bound) and
// large (bandwidth-bound) sizes weigh alike.
func FitLink(rows []bench.AllReduceRow, devicesPerNode int) (Link, error) {
	// Normal equations of min Σ ((a·x1 + c·x2)/t - 1)² in a = α (ms) and
	// c = 1/B (ms per byte).
	var s11, s12, s22, s1, s2 float64
	for _, r := range rows {
		if r.NP < 2 || r.Ms <= 0 {
			continue
		}
		share := max(1, float64(r.NP)/float64(devicesPerNode))
		n := float64(r.NP)
		x1 := share * 2 * (n - 1) / r.Ms
		x2 := share * 2 * (n - 1) / n * float64(r.Bytes) / r.Ms
		s11, s12, s22, s1, s2 = s11+x1*x1, s12+x1*x2, s22+x2*x2, s1+x1, s2+x2
	}
	det := s11*s22 - s12*s12
	if det <= 0 {
		return Link{}, errors.New("fit link: want rows of at least two sizes")
	}
	a, c := (s1*s22-s2*s12)/det, (s11*s2-s12*s1)/det
	if a < 0 || c <= 0 {
		return Link{}, fmt.Errorf("fit link: no positive latency and bandwidth fit the rows (α %.3g ms, 1/B %.3g ms/B)", a, c)
	}
	return Link{AlphaUs: a * 1e3, BusBWGBs: 1 / (c * 1e6)}, nil
}

// CalibrateCompute sets p's per-device figures from a one-rank `bench ddp`
// row of w (one device, nothing to all-reduce): the sustained rate that
// makes w's FLOPs take the measured compute, the data wait per sample, and
// the rest of the step (clipping, optimizer, bookkeeping) per parameter.
// When other work kept so many cores busy during the run that the rank
// did not have one to itself, the figures are scaled to a whole device
// (Layout.Busy), so that the model reproduces the run given its load.
func CalibrateCompute(p Profile, w Workload, row bench.DDPRow, batch int) (Profile, error) {
	if row.NP != 1 || row.ComputeMs <= 0 || batch < 1 || w.Params < 1 {
		return p, fmt.Errorf("calibrate compute: want a measured row of np 1 (got np %d, compute %.3g ms)", row.NP, row.ComputeMs)
	}
	share := p.share(1, 1, row.OtherLoadCPUs)
	p.SustainedGFLOPs = w.FLOPsPerSample * float64(batch) * share / (row.ComputeMs * 1e6)
	p.DataUsPerSample = row.DataWaitMs / share * 1e3 / float64(batch)
	p.UpdateNsPerParam = row.OtherMs / share * 1e6 / float64(w.Params)
	p.StepOverheadMs = 0
	return p, nil
}
