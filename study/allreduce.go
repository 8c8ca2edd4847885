package study

import "math"

// The all-reduce costs follow the alpha-beta model of Thakur, Rabenseifner
// and Gropp (2005), with NCCL's accounting of hops per level
// (src/graph/tuning.cc; /work/shared/reference/gpu-facts.md §6). For S bytes
// over n ranks on N nodes (m = n/N ranks a node), B the bus bandwidth of the
// slowest level the collective crosses:
//
//	ring: 2(n-1)/n · S/B + 2(n-N)·α_intra + 2(N-1)·α_inter
//	tree: 2·S/B + 2(⌈log2 m⌉·α_intra + ⌈log2 N⌉·α_inter)
//
// plus the profile's fixed cost per call. The ring's 2(n-1) steps each move
// S/n; the tree reduces up and broadcasts down whole pipelined buffers, so
// its bandwidth term does not shrink with n but its latency grows only with
// the tree's depth.

// bottleneckGBs is the bus bandwidth of the slowest level among nodes nodes.
func (p Profile) bottleneckGBs(nodes int) float64 {
	if nodes <= 1 {
		return p.Intra.BusBWGBs
	}
	return min(p.Intra.BusBWGBs, p.Inter.BusBWGBs)
}

// transferMs is the time to move bytes at gbs GB/s, in milliseconds.
func transferMs(bytes, gbs float64) float64 { return bytes / (gbs * 1e6) }

// RingMs is the ring all-reduce of bytes over n ranks on nodes nodes.
func (p Profile) RingMs(bytes float64, n, nodes int) float64 {
	if n <= 1 {
		return 0
	}
	nodes = max(1, nodes)
	hops := 2*float64(n-nodes)*p.Intra.AlphaUs + 2*float64(nodes-1)*p.Inter.AlphaUs
	return p.CallUs/1e3 + 2*float64(n-1)/float64(n)*transferMs(bytes, p.bottleneckGBs(nodes)) + hops/1e3
}

// TreeMs is the tree all-reduce of bytes over n ranks on nodes nodes.
func (p Profile) TreeMs(bytes float64, n, nodes int) float64 {
	if n <= 1 {
		return 0
	}
	nodes = max(1, nodes)
	perNode := (n + nodes - 1) / nodes
	depth := 2 * (ceilLog2(perNode)*p.Intra.AlphaUs + ceilLog2(nodes)*p.Inter.AlphaUs)
	return p.CallUs/1e3 + 2*transferMs(bytes, p.bottleneckGBs(nodes)) + depth/1e3
}

// AllReduceMs is the profile's algorithm; auto takes the faster.
func (p Profile) AllReduceMs(bytes float64, n, nodes int) float64 {
	switch p.Algorithm {
	case "tree":
		return p.TreeMs(bytes, n, nodes)
	case "auto":
		return min(p.RingMs(bytes, n, nodes), p.TreeMs(bytes, n, nodes))
	}
	return p.RingMs(bytes, n, nodes)
}

func ceilLog2(n int) float64 {
	if n <= 1 {
		return 0
	}
	return math.Ceil(math.Log2(float64(n)))
}
