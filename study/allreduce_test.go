package study

import (
	"math"
	"testing"
)

// testProfile has round figures so that hand computations are exact:
// inside a node 10 µs and 100 GB/s, between nodes 50 µs and 10 GB/s.
func testProfile() Profile {
	return Profile{Name: "test", DevicesPerNode: 4, SustainedGFLOPs: 1000, Algorithm: "ring",
		Intra: Link{AlphaUs: 10, BusBWGBs: 100}, Inter: Link{AlphaUs: 50, BusBWGBs: 10}}
}

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-9*max(1, math.Abs(want)) {
		t.Errorf("%s = %.12g, want %.12g", what, got, want)
	}
}

func TestRingClosedForm(t *testing.T) {
	p := testProfile()
	const s = 1e8 // 100 MB
	// One node, n = 4: 2·3/4 · 1e8 B / 100 GB/s = 1.5 ms; 2·3 hops of 10 µs.
	near(t, "ring 4 on 1 node", p.RingMs(s, 4, 1), 1.5+0.06)
	// n = 2: 2·1/2 · 1 ms + 2 hops.
	near(t, "ring 2 on 1 node", p.RingMs(s, 2, 1), 1+0.02)
	// 8 ranks on 2 nodes: the NIC is the bottleneck, 2·7/8 · 1e8/10e9 s =
	// 17.5 ms; 2(8-2) hops inside at 10 µs, 2(2-1) between at 50 µs.
	near(t, "ring 8 on 2 nodes", p.RingMs(s, 8, 2), 17.5+0.12+0.1)
	near(t, "ring 1", p.RingMs(s, 1, 1), 0)
	p.CallUs = 7
	near(t, "ring 2 with a call cost", p.RingMs(s, 2, 1), 1+0.02+0.007)
}

func TestTreeClosedForm(t *testing.T) {
	p := testProfile()
	const s = 1e8
	// One node of 4: 2 · 1 ms, depth 2·log2 4 = 4 hops.
	near(t, "tree 4 on 1 node", p.TreeMs(s, 4, 1), 2+0.04)
	// 3 ranks: ⌈log2 3⌉ = 2.
	near(t, "tree 3 on 1 node", p.TreeMs(s, 3, 1), 2+0.04)
	// 16 ranks on 4 nodes: 2 · 10 ms; 2(log2 4 · 10 µs + log2 4 · 50 µs).
	near(t, "tree 16 on 4 nodes", p.TreeMs(s, 16, 4), 20+2*(2*0.01+2*0.05))
}

func TestAutoTakesTheFasterAlgorithm(t *testing.T) {
	p := testProfile()
	p.Algorithm = "auto"
	// Small messages over many nodes: the tree's log depth wins.
	small, big := 1e3, 1e9
	if got, tree := p.AllReduceMs(small, 256, 64), p.TreeMs(small, 256, 64); got != tree || tree >= p.RingMs(small, 256, 64) {
		t.Errorf("auto on 1 kB: %g, tree %g, ring %g", got, tree, p.RingMs(small, 256, 64))
	}
	// Large ones: the ring's bandwidth term, half the tree's, wins.
	if got, ring := p.AllReduceMs(big, 8, 2), p.RingMs(big, 8, 2); got != ring || ring >= p.TreeMs(big, 8, 2) {
		t.Errorf("auto on 1 GB: %g, ring %g, tree %g", got, ring, p.TreeMs(big, 8, 2))
	}
}
