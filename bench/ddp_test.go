package bench

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fdsm-go/fdsm/bus"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/trainer"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// stepOf builds one rank's metrics of one step.
func stepOf(np, rank, step int, stepMs, compute, coll, data float64, arrivalMs int64) bus.StepMetrics {
	return bus.StepMetrics{Rank: rank, World: np, Generation: 1, Step: step, StepMs: stepMs,
		ComputeMs: compute, CollectiveWaitMs: coll, DataWaitMs: data, ArrivalUnixNano: arrivalMs * 1e6,
		Time: time.Unix(0, 0).Add(time.Duration(step) * 100 * time.Millisecond)}
}

func TestSummariseDDP(t *testing.T) {
	var ms []bus.StepMetrics
	// Two warm-up steps that are far slower, then three measured steps.
	for step := 1; step <= 2; step++ {
		ms = append(ms, stepOf(2, 0, step, 1000, 900, 50, 1, 0), stepOf(2, 1, step, 1000, 900, 50, 1, 0))
	}
	ms = append(ms,
		stepOf(2, 0, 3, 10, 8, 1, 0.5, 100), stepOf(2, 1, 3, 12, 9, 2, 0.5, 103),
		stepOf(2, 0, 4, 20, 8, 11, 0.5, 200), stepOf(2, 1, 4, 14, 9, 3, 0.5, 201),
		stepOf(2, 1, 5, 11, 9, 1, 0.5, 300), stepOf(2, 0, 5, 13, 8, 4, 0.5, 305), // out of order
	)
	row, err := summariseDDP(2, 32, 2, 5, ms)
	if err != nil {
		t.Fatal(err)
	}
	// Slowest rank per step: 12, 20, 13 -> median 13.
	if row.NP != 2 || row.Steps != 3 || !near(row.StepMs, 13) {
		t.Fatalf("row %+v: want np 2, 3 steps, iteration 13 ms", row)
	}
	// Medians over ranks and steps: compute {8,9,8,9,9,8} = 8.5; collective
	// {1,2,11,3,1,4} = 2.5; other = step - parts {0.5,0.5,0.5,1.5,0.5,0.5} = 0.5.
	if !near(row.ComputeMs, 8.5) || !near(row.CollectiveWaitMs, 2.5) || !near(row.DataWaitMs, 0.5) ||
		!near(row.OtherMs, 0.5) {
		t.Errorf("parts %+v", row)
	}
	// Arrival skews 3, 1, 5 ms -> 3.
	if !near(row.ArrivalSkewMs, 3) {
		t.Errorf("skew %v, want 3", row.ArrivalSkewMs)
	}
	// Rank 0's time stamps are 100 ms apart.
	if !near(row.WallStepMs, 100) {
		t.Errorf("wall step %v, want 100", row.WallStepMs)
	}
	if !near(row.SamplesPerSec, 64/0.013) {
		t.Errorf("throughput %v, want %v", row.SamplesPerSec, 64/0.013)
	}
}

func TestSummariseDDPIncomplete(t *testing.T) {
	// A step missing a rank is left out; too few complete steps (here 1 of
	// 3, the last one lost entirely) is an error.
	ms := []bus.StepMetrics{
		stepOf(2, 0, 1, 10, 8, 1, 0, 0), stepOf(2, 1, 1, 10, 8, 1, 0, 0),
		stepOf(2, 0, 2, 50, 8, 1, 0, 0),
		stepOf(2, 0, 3, 12, 8, 1, 0, 0), stepOf(2, 1, 3, 12, 8, 1, 0, 0),
	}
	row, err := summariseDDP(2, 1, 0, 3, ms)
	if err != nil {
		t.Fatal(err)
	}
	if row.Steps != 2 || !near(row.StepMs, 11) || row.ArrivalSkewMs != 0 {
		t.Errorf("row %+v: want 2 steps, 11 ms, no skew (no arrival times)", row)
	}
	if _, err := summariseDDP(2, 1, 0, 3, ms[:3]); err == nil || !strings.Contains(err.Error(), "did not reach the bus") {
		t.Errorf("1 complete step of 3: err %v", err)
	}
	if _, err := summariseDDP(2, 1, 0, 3, nil); err == nil {
		t.Error("no metrics: no error")
	}
}

func TestSummariseDDPRegroup(t *testing.T) {
	ms := []bus.StepMetrics{stepOf(2, 0, 1, 10, 8, 1, 0, 0), stepOf(2, 1, 1, 10, 8, 1, 0, 0)}
	lost := stepOf(1, 0, 2, 10, 8, 1, 0, 0)
	if _, err := summariseDDP(2, 1, 0, 2, append(ms, lost)); err == nil || !strings.Contains(err.Error(), "regrouped") {
		t.Errorf("world changed: err %v", err)
	}
	later := stepOf(2, 0, 2, 10, 8, 1, 0, 0)
	later.Generation = 2
	if _, err := summariseDDP(2, 1, 0, 2, append(ms, later)); err == nil || !strings.Contains(err.Error(), "regrouped") {
		t.Errorf("generation changed: err %v", err)
	}
}

func TestScaleDDP(t *testing.T) {
	rows := []DDPRow{{NP: 1, SamplesPerSec: 100}, {NP: 2, SamplesPerSec: 150}, {NP: 4, SamplesPerSec: 100}}
	if base := scaleDDP(rows); base != 1 {
		t.Fatalf("baseline np %d, want 1", base)
	}
	for i, want := range [][2]float64{{1, 1}, {1.5, 0.75}, {1, 0.25}} {
		if !near(rows[i].Speedup, want[0]) || !near(rows[i].Efficiency, want[1]) {
			t.Errorf("np %d: speedup %v efficiency %v, want %v", rows[i].NP, rows[i].Speedup, rows[i].Efficiency, want)
		}
	}
	// Without np 1 the smallest world size is the baseline, wherever it is.
	rows = []DDPRow{{NP: 4, SamplesPerSec: 300}, {NP: 2, SamplesPerSec: 200}}
	if base := scaleDDP(rows); base != 2 {
		t.Fatalf("baseline np %d, want 2", base)
	}
	if !near(rows[0].Speedup, 1.5) || !near(rows[0].Efficiency, 0.75) || !near(rows[1].Efficiency, 1) {
		t.Errorf("rows %+v", rows)
	}
	if scaleDDP(nil) != 0 {
		t.Error("no rows: baseline not 0")
	}
}

func TestMedianRound(t *testing.T) {
	rounds := []DDPRow{{NP: 2, StepMs: 30, ComputeMs: 3}, {NP: 2, StepMs: 10, ComputeMs: 1}, {NP: 2, StepMs: 20, ComputeMs: 2}}
	got := medianRound(rounds)
	if got.StepMs != 20 || got.ComputeMs != 2 || len(got.RoundStepMs) != 3 || got.RoundStepMs[0] != 30 {
		t.Errorf("median of 3 rounds: %+v", got)
	}
	if got := medianRound(rounds[:2]); got.StepMs != 10 {
		t.Errorf("median of 2 rounds %v, want the faster, 10", got.StepMs)
	}
	if got := medianRound(rounds[:1]); got.RoundStepMs != nil {
		t.Errorf("one round lists rounds: %v", got.RoundStepMs)
	}
}

// TestDDPConfigs: every workload's generated config is a valid training
// config with the benchmark's settings.
func TestDDPConfigs(t *testing.T) {
	opts := DDPOptions{Batch: 16, Warmup: 3, Steps: 7}.withDefaults()
	for _, name := range DDPModels {
		w, err := ddpWorkloadFor(name)
		if err != nil {
			t.Fatal(err)
		}
		b, err := w.config(opts, 4)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := trainer.LoadConfig(path)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, b)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if cfg.Batch != 16 || cfg.Steps != 10 || cfg.Checkpoint.Every != 0 || cfg.Samples.N != 0 ||
			cfg.DType != "float32" || cfg.Objective.Name != "fd-ssm" {
			t.Errorf("%s: config %+v", name, cfg)
		}
		if w.needsMNIST && cfg.Data.Limit != 4*16*11 {
			t.Errorf("%s: data limit %d, want %d", name, cfg.Data.Limit, 4*16*11)
		}
		if _, err := countParams(w.model); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ddpWorkloadFor("nope"); err == nil || !strings.Contains(err.Error(), "resnet") {
		t.Errorf("unknown model: %v", err)
	}
}

func TestCPUTicks(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc")
	}
	m0, o0, ok := cpuTicks()
	if !ok || m0 <= 0 || o0 < 0 {
		t.Fatalf("cpuTicks: %d %d %v", m0, o0, ok)
	}
	l := startLoadMeter()
	if got := l.others(); got < 0 || got > float64(runtime.NumCPU())+0.5 {
		t.Errorf("other load %v cores", got)
	}
}

func TestDDPResultString(t *testing.T) {
	r := DDPResult{Results: []DDPRow{{NP: 1, StepMs: 40, Speedup: 1, Efficiency: 1},
		{NP: 4, StepMs: 120, OtherLoadCPUs: 0.5, RoundStepMs: []float64{120, 130}}},
		BatchPerRank: 32, Model: "toy", ModelSpec: models.Spec{Kind: "mlp"}, CPUs: 2, Steps: 40, Warmup: 5, Rounds: 2, BaselineNP: 1}
	s := r.String()
	for _, want := range []string{`{"kind":"mlp"}`, "batch 32 per rank", "np 4 > 2 CPUs", "0.50 cores busy during np 4",
		"np 4: iteration ms per round: 120.00 130.00"} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
		}
	}
}
