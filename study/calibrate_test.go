package study

import (
	"testing"

	"github.com/fdsm-go/fdsm/bench"
)

func TestFitLinkRecoversAlphaAndBandwidth(t *testing.T) {
	want := Link{AlphaUs: 25, BusBWGBs: 2.5}
	var rows []bench.AllReduceRow
	for _, np := range []int{2, 4} {
		for _, size := range []int{1 << 10, 1 << 20, 16 << 20} {
			p := Profile{DevicesPerNode: 2, Intra: want}
			rows = append(rows, bench.AllReduceRow{NP: np, Bytes: size, Ms: p.RingMs(float64(size), np, 1) *
				max(1, float64(np)/2)})
		}
	}
	got, err := FitLink(rows, 2)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "alpha", got.AlphaUs, want.AlphaUs)
	near(t, "busbw", got.BusBWGBs, want.BusBWGBs)
	if _, err := FitLink(rows[:1], 2); err == nil {
		t.Error("one row: no error")
	}
}

func TestCalibrateComputeReproducesTheMeasurement(t *testing.T) {
	w := testWorkload(4000)
	row := bench.DDPRow{NP: 1, StepMs: 55, ComputeMs: 50, DataWaitMs: 2, OtherMs: 3}
	p, err := CalibrateCompute(testProfile(), w, row, 10)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "rate", p.SustainedGFLOPs, 1e9*10/(50*1e6))
	it, _ := p.Iterate(w, Layout{GPUs: 1, Batch: 10})
	near(t, "compute", it.ComputeMs, 50)
	near(t, "data", it.DataMs, 2)
	near(t, "update", it.UpdateMs, 3)
	near(t, "step", it.Ms, 55)
	// Three of the four devices busy with other work: the run had a
	// quarter of a device, which the calibrated profile gives back.
	row.OtherLoadCPUs = 3.75
	p, err = CalibrateCompute(testProfile(), w, row, 10)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "rate under load", p.SustainedGFLOPs, 4*1e9*10/(50*1e6))
	loaded, _ := p.Iterate(w, Layout{GPUs: 1, Batch: 10, Busy: 3.75})
	near(t, "step under load", loaded.Ms, 55)
	if _, err := CalibrateCompute(testProfile(), w, bench.DDPRow{NP: 2, ComputeMs: 1}, 10); err == nil {
		t.Error("np 2 row: no error")
	}
}

// TestValidateFDCalibratesOnTheGroupOfOne: the fdpar rows are predicted
// with the compute of their own group of one, taken from its step time
// less its data wait and the profile's update (the host's split of a step
// on a queueing device is where it waited, here all in the collective
// wait): the group of one is reproduced, and a group of 2 devices runs
// ⌈3/2⌉ of the 3 evaluations on its busiest device, plus the gradient
// gather and copy-back over the profile's link.
func TestValidateFDCalibratesOnTheGroupOfOne(t *testing.T) {
	w := testWorkload(4000)
	p := testProfile()
	p.UpdateNsPerParam = 3e3 // 3 ms for the 1000 parameters
	rows := []FDRow{
		{FDDevices: 1, Device: "devsim", Row: bench.DDPRow{NP: 1, StepMs: 65, ComputeMs: 0.2, CollectiveWaitMs: 62, DataWaitMs: 2, OtherMs: 0.5}},
		{FDDevices: 2, Device: "devsim", Row: bench.DDPRow{NP: 1, StepMs: 45, ComputeMs: 20, CollectiveWaitMs: 10, DataWaitMs: 2, OtherMs: 13}},
	}
	v, err := validateFD(p, w, rows, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 2 || v[0].FDDevices != 1 || v[1].FDDevices != 2 || v[1].Device != "devsim" {
		t.Fatalf("rows %+v", v)
	}
	near(t, "group of one", v[0].PredictedMs, 65)
	group := 2 * (10e-3 + 4000/(100e9)*1e3) // 2(k-1) transfers of the gradient: α + bytes/busbw
	near(t, "group of two", v[1].PredictedMs, 40+group+2+3)
	near(t, "its error", v[1].ErrorPct, 100*(40+group+2+3-45)/45)
	if _, err := validateFD(p, w, rows[1:], 10); err == nil {
		t.Error("no group of one: no error")
	}
}
