package study

import "testing"

// testWorkload is 1e9 FLOPs a sample, batch 10: 10 ms of compute on the
// test profile's 1000 GFLOP/s.
func testWorkload(buckets ...int) Workload {
	return Workload{Name: "w", Params: 1000, Buckets: buckets, FLOPsPerSample: 1e9, FDBlocks: 3, Batch: 10}
}

func TestIterationWithoutOverlapAddsUp(t *testing.T) {
	p := testProfile()
	p.DataUsPerSample, p.UpdateNsPerParam, p.StepOverheadMs = 100, 1000, 0.5
	w := testWorkload(1e8, 1e8)
	it, err := p.Iterate(w, Layout{GPUs: 4, Batch: 10})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "compute", it.ComputeMs, 10)
	near(t, "comm", it.CommMs, 2*(1.5+0.06))
	near(t, "exposed", it.ExposedMs, it.CommMs)
	near(t, "data", it.DataMs, 1)         // 100 µs · 10
	near(t, "update", it.UpdateMs, 1+0.5) // 1000 ns · 1000 + 0.5
	near(t, "step", it.Ms, 10+3.12+1+1.5) // the parts add up
	if it.Ranks != 4 || it.Nodes != 1 {
		t.Errorf("ranks %d nodes %d, want 4 and 1", it.Ranks, it.Nodes)
	}
}

func TestOverlapHidesAllButWhatCannot(t *testing.T) {
	p := testProfile()
	p.Overlap, p.BackwardFraction = true, 0.5 // forward 5 ms, backward 5 ms
	// One bucket is final only at the end of backward: nothing overlaps.
	one, _ := p.Iterate(testWorkload(1e8), Layout{GPUs: 4, Batch: 10})
	near(t, "one bucket exposed", one.ExposedMs, 1.56)
	// Two equal buckets: the first is final at 7.5 ms and done at 9.06,
	// before backward ends; only the last one's 1.56 ms shows.
	two, _ := p.Iterate(testWorkload(1e8, 1e8), Layout{GPUs: 4, Batch: 10})
	near(t, "two buckets exposed", two.ExposedMs, 1.56)
	near(t, "two buckets step", two.Ms, 10+1.56)
	// Communication longer than backward: max(compute, comm) governs.
	// Four buckets of 1 GB take 15.06 ms each; the first starts at 6.25
	// ms, and the chain ends at 6.25 + 4·15.06 = 66.49 ms.
	long, _ := p.Iterate(testWorkload(1e9, 1e9, 1e9, 1e9), Layout{GPUs: 4, Batch: 10})
	near(t, "comm-bound exposed", long.ExposedMs, 6.25+4*15.06-10)
}

func TestFDGroupsSplitEvaluationsAndGather(t *testing.T) {
	p := testProfile()
	p.Overlap = true // ignored with groups: the buckets launch after the gather
	w := testWorkload(1e8)
	it, err := p.Iterate(w, Layout{GPUs: 8, FDDevices: 2, Batch: 10})
	if err != nil {
		t.Fatal(err)
	}
	// 3 evaluations on 2 devices: the busier does 2 of 3.
	near(t, "compute", it.ComputeMs, 10*2.0/3)
	// Gather and copy-back: 2(k-1) transfers of 1e8 B at 100 GB/s, 10 µs each.
	near(t, "group", it.GroupMs, 2*(1+0.01))
	// 4 ranks on 2 nodes (8 devices, 4 a node): ring over the NIC.
	if it.Ranks != 4 || it.Nodes != 2 {
		t.Fatalf("ranks %d nodes %d", it.Ranks, it.Nodes)
	}
	near(t, "exposed", it.ExposedMs, p.RingMs(1e8, 4, 2))
	// 4 devices for 3 evaluations: one each, one device idle.
	it4, _ := p.Iterate(w, Layout{GPUs: 4, FDDevices: 4, Batch: 10})
	near(t, "compute on 4", it4.ComputeMs, 10.0/3)
	if _, err := p.Iterate(testWorkload(), Layout{GPUs: 6, FDDevices: 4, Batch: 10}); err == nil {
		t.Error("6 devices in groups of 4: no error")
	}
	if _, err := p.Iterate(Workload{Batch: 1}, Layout{GPUs: 2, FDDevices: 2, Batch: 1}); err == nil {
		t.Error("groups without an FD objective: no error")
	}
}

func TestTimeSharedDevices(t *testing.T) {
	p := testProfile() // 4 devices a node
	w := testWorkload(1e8)
	it, _ := p.Iterate(w, Layout{GPUs: 8, Nodes: 1, Batch: 10})
	near(t, "compute of 8 ranks on 4 devices", it.ComputeMs, 20)
	near(t, "ring on shared devices", it.CommMs, 2*p.RingMs(1e8, 8, 1))
	busy, _ := p.Iterate(w, Layout{GPUs: 2, Nodes: 1, Batch: 10, Busy: 3})
	near(t, "2 ranks on the 1 device left free", busy.ComputeMs, 20)
}
