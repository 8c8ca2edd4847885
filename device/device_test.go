package device

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
)

func TestOpen(t *testing.T) {
	for _, name := range []string{"", "cpu", "cpu:0"} {
		be, err := Open(name)
		if err != nil || be != tensor.Backend(tensor.DefaultCPU()) {
			t.Fatalf("Open(%q) = %v, %v; want the CPU backend", name, be, err)
		}
	}
	a, err := Open("devsim:3")
	if err != nil || a.Name() != "devsim:3" {
		t.Fatalf("Open(devsim:3) = %v, %v", a, err)
	}
	if b, _ := Open("devsim:3"); b != a {
		t.Fatal("opening devsim:3 twice gave two devices")
	}
	if b, _ := Open("devsim"); b.Name() != "devsim:0" {
		t.Fatalf("devsim opens %s, want devsim:0", b.Name())
	}
}

// TestBadNames: each bad name is an *Error naming the name, why, and what
// is available.
func TestBadNames(t *testing.T) {
	for name, why := range map[string]string{
		"cpu:8":    "cpu (cpu:0) to cpu:7",
		"devsim:8": "devsim:0 to devsim:7",
		"devsim:x": "not a device index",
		"tpu":      "unknown device kind",
		"cpu:-1":   "not a device index",
	} {
		_, err := Open(name)
		var de *Error
		if !errors.As(err, &de) {
			t.Fatalf("Open(%q): error %v, want *Error", name, err)
		}
		for _, want := range []string{name, why, "available: cpu, cpu:1..7, devsim:0..7, cuda:N"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Open(%q): %q does not say %q", name, err, want)
			}
		}
		if Check(name) == nil {
			t.Errorf("Check(%q) accepts it", name)
		}
	}
}

// TestLogicalCPUs: cpu:N is a CPU backend of its own, named so, the same
// one every time; cpu:0 is the CPU itself.
func TestLogicalCPUs(t *testing.T) {
	a, err := Open("cpu:2")
	if err != nil || !strings.HasPrefix(a.Name(), "cpu:2/") || a == tensor.Backend(tensor.DefaultCPU()) {
		t.Fatalf("Open(cpu:2) = %v, %v", a, err)
	}
	if b, _ := Open("cpu:2"); b != a {
		t.Fatal("opening cpu:2 twice gave two devices")
	}
	if b, _ := Open("cpu:3"); b == a {
		t.Fatal("cpu:2 and cpu:3 are one device")
	}
}

// TestGroup: a group is the lead and the devices of its kind after it.
func TestGroup(t *testing.T) {
	for lead, want := range map[string]string{"cpu": "[cpu cpu:1 cpu:2]", "devsim:2": "[devsim:2 devsim:3 devsim:4]"} {
		got, err := Group(lead, 3)
		if err != nil || fmt.Sprint(got) != want {
			t.Errorf("Group(%s, 3) = %v, %v; want %s", lead, got, err, want)
		}
	}
	if _, err := Group("devsim:6", 3); err == nil || !strings.Contains(err.Error(), "devsim:8") {
		t.Errorf("a group past the last device: %v", err)
	}
}

// TestCUDAWithoutDriver: where no NVIDIA driver loads, cuda:0 is an *Error
// that names the library looked for (commands exit 2 with it, before
// writing anything); where one does, it opens.
func TestCUDAWithoutDriver(t *testing.T) {
	if err := Check("cuda:0"); err != nil {
		t.Fatalf("Check(cuda:0): %v", err)
	}
	be, err := Open("cuda:0")
	if err == nil {
		t.Skipf("a GPU is here: %s", be.Name())
	}
	var de *Error
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "libcuda.so.1") {
		t.Fatalf("Open(cuda:0) without a driver: %v", err)
	}
}

// TestSetTF32OnlyOnCUDA: TF32 is a GPU GEMM mode; asking it of another
// device is an error naming it.
func TestSetTF32OnlyOnCUDA(t *testing.T) {
	if err := SetTF32(tensor.DefaultCPU(), true); err == nil || !strings.Contains(err.Error(), "cpu") {
		t.Fatalf("tf32 on the CPU: %v", err)
	}
}

// TestOpenGroup: a group's devices open in order, each its own backend; a
// CUDA device named again is another lane of the GPU (on a GPU: a
// distinct backend named cuda:0/1; without a driver: the driver error),
// and any other device named twice is refused, naming it.
func TestOpenGroup(t *testing.T) {
	g, err := OpenGroup([]string{"devsim:1", "cpu:2", "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"devsim:1", "cpu:2", "cpu"} {
		if be, _ := Open(name); g[i] != be {
			t.Errorf("device %d of the group is %s, want %s", i, g[i].Name(), name)
		}
	}
	for _, names := range [][]string{{"devsim:1", "devsim:1"}, {"cpu", "cpu:0"}, {"cpu:3", "cpu:1", "cpu:3"}} {
		_, err := OpenGroup(names)
		var de *Error
		if !errors.As(err, &de) || !strings.Contains(err.Error(), "named 2 times") {
			t.Errorf("OpenGroup(%v) = %v, want an *Error saying a device is named twice", names, err)
		}
	}
	if _, err := OpenGroup(nil); err == nil {
		t.Error("OpenGroup(nil) succeeded")
	}
	g, err = OpenGroup([]string{"cuda:0", "cuda:0"})
	if err != nil {
		var de *Error
		if !errors.As(err, &de) || !strings.Contains(err.Error(), "libcuda.so.1") {
			t.Fatalf("OpenGroup(cuda:0, cuda:0) without a driver: %v", err)
		}
		return
	}
	if g[0] == g[1] || g[1].Name() != "cuda:0/1" {
		t.Errorf("two lanes of cuda:0: %s and %s, want distinct backends cuda:0 and cuda:0/1", g[0].Name(), g[1].Name())
	}
}
