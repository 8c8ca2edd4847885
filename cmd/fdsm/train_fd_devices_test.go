package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/trainer"
)

// TestTrainFDDevicesFlag: --fd-devices K trains with the FD evaluations on
// K devices and records parallel.fd_devices in the run's config.
func TestTrainFDDevicesFlag(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	if _, err := runCLI(t, "train", "--config", "../../configs/small-ebm-toy-fdssm.yaml", "--set", "steps=3",
		"--fd-devices", "2", "--out", out, "--no-progress"); err != nil {
		t.Fatal(err)
	}
	cfg, _, ok, err := trainer.RunConfig(out)
	if err != nil || !ok || cfg.Parallel.FDDevices != 2 {
		t.Fatalf("run config %+v, %v, %v: want parallel.fd_devices 2", cfg.Parallel, ok, err)
	}
}

// TestTrainTF32NeedsCUDA: --tf32 on a device that is not cuda:N is refused
// (exit 2) before anything is written.
func TestTrainTF32NeedsCUDA(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	_, err := runCLI(t, "train", "--config", "../../configs/small-ebm-toy-fdssm.yaml", "--tf32", "--out", out, "--no-progress")
	if code := exitCode(err); code != exitUsage || !strings.Contains(err.Error(), "tf32") {
		t.Fatalf("exit %d: %v", code, err)
	}
}
