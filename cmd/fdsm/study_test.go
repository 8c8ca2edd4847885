package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/study"
)

func TestStudyTrainArgsTrainTheStudysConfig(t *testing.T) {
	bench := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(bench, []byte(`{"batch": 8, "steps": 12, "device": "devsim:0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := studyTrainArgs("/cfg/study.yaml", []string{"--config", bench, "--out", "/o", "--log-format", "json"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"train", "--config", "/cfg/study.yaml", "--set", "batch=8", "--set", "steps=12",
		"--set", "checkpoint.every=0", "--set", "samples.n=0", "--set", "validation.every=0",
		"--set", "schedule.kind=constant", "--set", "device=devsim:0", "--out", "/o", "--log-format", "json"}
	if !slices.Equal(got, want) {
		t.Errorf("args\n%q\nwant\n%q", got, want)
	}
}

// TestStudyScalingModelJSON checks the JSON the issue specifies, on the
// model alone (no runs).
func TestStudyScalingModelJSON(t *testing.T) {
	stdout, stderr, err := execute(t, newRootCmd(), "study", "scaling", "--config",
		"../../configs/small-ebm-toy-fdssm.yaml", "--np", "", "--max-gpus", "16", "--json")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var res struct {
		Validation []map[string]any `json:"validation"`
		Model      []map[string]any `json:"model"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if res.Validation == nil || len(res.Validation) != 0 {
		t.Errorf("validation %v: want an empty list", res.Validation)
	}
	profiles := map[any]int{}
	for _, m := range res.Model {
		for _, k := range []string{"profile", "gpus", "mode", "ms", "efficiency"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("model row %v has no %q", m, k)
			}
		}
		profiles[m["profile"]]++
	}
	// local-2cpu: dp and fd2 (fd4 exceeds its 2 devices); h100: dp, fd2
	// and fd4; weak and strong each.
	if profiles["local-2cpu"] != 2*(5+4) || profiles["h100-8x-nvlink-ndr400"] != 2*(5+4+3) {
		t.Errorf("rows per profile %v", profiles)
	}
}

// TestStudyScalingMeasuresAndPlots runs the study end to end on the toy
// config: one- and two-rank jobs of this test binary playing fdsm, the
// model calibrated on them, and the plots. It checks the plumbing only;
// the figures depend on the machine.
func TestStudyScalingMeasuresAndPlots(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	f := studyScalingFlags{config: "../../configs/small-ebm-toy-fdssm.yaml", np: "2", warmup: 1, steps: 4, rounds: 1,
		fdDevices: "2", maxGPUs: 8, local: "local-2cpu", profiles: []string{"h100-8x-nvlink-ndr400"},
		measureFD: "2", fdDevice: "devsim"}
	opts, err := studyOptions(f)
	if err != nil {
		t.Fatal(err)
	}
	opts.Measure.Worker = append([]string{os.Args[0], "-test.run=^$", "--"}, opts.Measure.Worker[1:]...)
	opts.Measure.Env = []string{envRunMain + "=1"}
	res, err := study.Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	// np 1 and 2, then one rank with fdpar groups of 1 and 2 devsim devices
	// (one when this host has a single core).
	want := [][2]int{{1, 0}, {2, 0}, {1, 1}, {1, 2}}
	if runtime.NumCPU() < 2 {
		want = want[:3]
	}
	if len(res.Validation) != len(want) {
		t.Fatalf("validation %+v", res.Validation)
	}
	for i, v := range res.Validation {
		if v.NP != want[i][0] || v.FDDevices != want[i][1] || (v.FDDevices > 0 && v.Device != "devsim") {
			t.Errorf("validation row %d: np %d fd %d on %q, want np %d fd %d", i, v.NP, v.FDDevices, v.Device, want[i][0], want[i][1])
		}
	}
	for _, v := range res.Validation {
		if v.MeasuredMs <= 0 || v.PredictedMs <= 0 || v.ComputeMs <= 0 {
			t.Errorf("validation row %+v", v)
		}
	}
	// How close the prediction comes depends on the machine and its load
	// (a toy step of a few ms is mostly bookkeeping): a measurement for
	// docs/scaling.md, not a test.
	if local := res.Profiles[0]; local.Name != "local-2cpu" || local.SustainedGFLOPs <= 0 {
		t.Errorf("calibrated profile %+v", local)
	}
	dir := t.TempDir()
	if err := study.Plot(res, dir); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"local-2cpu", "h100-8x-nvlink-ndr400"} {
		for _, m := range []string{"time", "throughput", "efficiency"} {
			if st, err := os.Stat(filepath.Join(dir, p+"-"+m+".png")); err != nil || st.Size() == 0 {
				t.Errorf("plot %s-%s: %v", p, m, err)
			}
		}
	}
}

// TestStudyControl: a small run prints the table and writes the plot; bad
// sizes and timings are usage errors naming the flag.
func TestStudyControl(t *testing.T) {
	png := filepath.Join(t.TempDir(), "control.png")
	out, err := runCLI(t, "study", "control", "--members", "3", "--timing", "fast", "--plot", png)
	if err != nil || !strings.Contains(out, "regroup s") || !strings.Contains(out, "fast timing") {
		t.Fatalf("%v: %s", err, out)
	}
	if _, err := os.Stat(png); err != nil {
		t.Error(err)
	}
	for _, args := range [][]string{{"--members", "1"}, {"--members", "8,x"}, {"--timing", "wan"}, {"--plot", "x.jpg"}, {"--dilate", "0.5"}, {"--dilate", "x"}} {
		if _, err := runCLI(t, append([]string{"study", "control"}, args...)...); err == nil || !strings.Contains(err.Error(), args[0]) {
			t.Errorf("%v: %v", args, err)
		}
	}
}
