package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestDevicesWithoutGPU: fdsm devices lists the CPU and the device names,
// and on a machine without an NVIDIA driver says why CUDA is unavailable,
// naming the library looked for.
func TestDevicesWithoutGPU(t *testing.T) {
	out, err := runCLI(t, "devices", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r devicesReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if r.CPU.Cores < 1 || !strings.HasPrefix(r.CPU.Backend, "cpu/") || len(r.Names) == 0 {
		t.Fatalf("%+v", r)
	}
	if len(r.CUDA.GPUs) > 0 {
		t.Skipf("GPUs here: %+v", r.CUDA.GPUs)
	}
	if !strings.Contains(r.CUDA.Unavailable, "libcuda.so.1") {
		t.Fatalf("no GPU, and the reason %q does not name libcuda.so.1", r.CUDA.Unavailable)
	}
	text, err := runCLI(t, "devices")
	if err != nil || !strings.Contains(text, "cuda     unavailable: ") {
		t.Fatalf("%v: %s", err, text)
	}
}
