package study

import (
	"fmt"
	"math"
)

// Workload is what the cost model needs to know of a training config.
type Workload struct {
	Name string `json:"name"`
	// Params counts the trainable parameters; Buckets are the gradient
	// buckets the reducer all-reduces, in launch order (bytes).
	Params  int   `json:"params"`
	Buckets []int `json:"buckets"`
	// FLOPsPerSample is one training step's arithmetic per sample: the
	// objective's evaluations forward and backward.
	FLOPsPerSample float64 `json:"flops_per_sample"`
	// FDBlocks is how many evaluations an fdpar group can spread over its
	// devices (FD-SSM: 3); 0 for objectives that are not FD.
	FDBlocks int `json:"fd_blocks"`
	Batch    int `json:"batch"` // the config's, per rank
}

// GradBytes is the size of all the buckets together.
func (w Workload) GradBytes() int {
	n := 0
	for _, b := range w.Buckets {
		n += b
	}
	return n
}

// Layout places one job on a machine of a profile.
type Layout struct {
	GPUs int // devices in all
	// FDDevices is each fdpar group's size: every data-parallel rank
	// spreads its FD evaluations over that many devices of its node.
	// 0 or 1: data parallelism alone.
	FDDevices int
	// Nodes is the node count; 0 takes as few as hold GPUs. More devices
	// than the nodes hold time-share them (ranks on fewer CPU cores).
	Nodes int
	Batch float64 // samples per data-parallel rank and step
	// Busy is how many devices of each node other work kept busy (a
	// measured background load on a shared host); the ranks share the rest.
	Busy float64
}

// Iteration is the model's account of one step. Times are milliseconds.
type Iteration struct {
	Ranks, Nodes int // data-parallel ranks, nodes
	ComputeMs    float64
	CommMs       float64 // the all-reduces' time, overlapped or not
	ExposedMs    float64 // the part of CommMs that adds to the step
	GroupMs      float64 // fdpar: gathering the group's gradients and copying values back
	DataMs       float64
	UpdateMs     float64
	Ms           float64 // the step: compute + exposed + group + data + update
}

// Iterate models one step of w laid out as l on p's machines.
func (p Profile) Iterate(w Workload, l Layout) (Iteration, error) {
	k := max(1, l.FDDevices)
	if l.GPUs < 1 || l.GPUs%k != 0 || k > p.DevicesPerNode {
		return Iteration{}, fmt.Errorf("layout: %d devices in groups of %d on nodes of %d", l.GPUs, k, p.DevicesPerNode)
	}
	if k > 1 && w.FDBlocks == 0 {
		return Iteration{}, fmt.Errorf("layout: fdpar groups need an FD objective (%s is not)", w.Name)
	}
	it := Iteration{Ranks: l.GPUs / k, Nodes: l.Nodes}
	if it.Nodes <= 0 {
		it.Nodes = (l.GPUs + p.DevicesPerNode - 1) / p.DevicesPerNode
	}
	share := p.share(l.GPUs, it.Nodes, l.Busy)
	it.ComputeMs = w.FLOPsPerSample * l.Batch / (p.SustainedGFLOPs * 1e6) * share * fdShare(w.FDBlocks, k)
	it.DataMs = p.DataUsPerSample * l.Batch / 1e3 * share
	it.UpdateMs = (p.UpdateNsPerParam*float64(w.Params)/1e6 + p.StepOverheadMs) * share
	// A time-shared core runs the ring's work too, so collectives slow
	// down with compute.
	ar := func(bytes int) float64 {
		return p.AllReduceMs(float64(bytes), it.Ranks, min(it.Nodes, it.Ranks)) * share
	}
	for _, b := range w.Buckets {
		it.CommMs += ar(b)
	}
	it.ExposedMs = it.CommMs
	if k > 1 {
		// The lead adds each replica's gradients, then copies the updated
		// values back out: 2(k-1) transfers of every gradient inside the
		// node, after backward; the buckets launch only once gathered.
		it.GroupMs = 2 * float64(k-1) * (p.Intra.AlphaUs/1e3 + transferMs(float64(w.GradBytes()), p.Intra.BusBWGBs))
	} else if p.Overlap {
		fwd := it.ComputeMs * (1 - p.backwardFraction())
		it.ExposedMs = max(0, overlapEnd(w.Buckets, fwd, it.ComputeMs-fwd, ar)-it.ComputeMs)
	}
	it.Ms = it.ComputeMs + it.ExposedMs + it.GroupMs + it.DataMs + it.UpdateMs
	return it, nil
}

// share is how many ranks' work each device of a node does when gpus
// ranks sit on nodes nodes with busy devices of each taken by other work:
// at least 1 (a rank's own device).
func (p Profile) share(gpus, nodes int, busy float64) float64 {
	free := max(minFreeDevices, float64(p.DevicesPerNode)-busy)
	return max(1, float64(gpus)/(float64(nodes)*free))
}

// minFreeDevices bounds the share of a node the ranks are left when other
// work is said to keep all of it busy.
const minFreeDevices = 0.1

// fdShare is the share of a rank's evaluations its busiest device of k
// runs: ⌈blocks/k⌉ of blocks (fdpar.Assign's split).
func fdShare(blocks, k int) float64 {
	if k <= 1 || blocks == 0 {
		return 1
	}
	return math.Ceil(float64(blocks)/float64(k)) / float64(blocks)
}

// overlapEnd is when the last bucket's all-reduce ends, the step starting
// at 0: backward, after forward fwd, makes gradients final at a steady rate
// over bwd in bucket order; all-reduces run one at a time in that order,
// each once its bucket is final and the one before it is done.
func overlapEnd(buckets []int, fwd, bwd float64, ar func(int) float64) float64 {
	total := 0
	for _, b := range buckets {
		total += b
	}
	done, end := 0, 0.0
	for _, b := range buckets {
		done += b
		ready := fwd + bwd*float64(done)/float64(total)
		end = max(end, ready) + ar(b)
	}
	return end
}
