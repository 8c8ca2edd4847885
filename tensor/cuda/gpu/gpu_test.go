package gpu

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/tensor/backendtest"
	"github.com/fdsm-go/fdsm/tensor/cuda/driver"
)

// noGPU reports why there is no GPU to test on, or "".
func noGPU(err error) string {
	if errors.Is(err, driver.ErrNoDriver) || errors.Is(err, driver.ErrInit) {
		return "no CUDA driver or no GPU here: " + strings.SplitN(err.Error(), ";", 2)[0]
	}
	return ""
}

// TestConformanceOnGPU runs the backend conformance suite on cuda:0 (the
// real driver, the committed PTX, cuBLAS) where a GPU is present: the check
// that tools/gpu/check.sh carries to the GPU machine.
func TestConformanceOnGPU(t *testing.T) {
	be, err := Open(0)
	if why := noGPU(err); why != "" {
		t.Skip(why)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("running on %s", be.Name())
	backendtest.Run(t, be)
}

// TestOpenWithoutDriver: where no libcuda.so.1 loads, Open fails with an
// error that matches driver.ErrNoDriver and names the library and the
// directory it was told to look in, so that --device cuda:0 can say why and
// exit 2 on a machine without a GPU.
func TestOpenWithoutDriver(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cuda-libs")
	t.Setenv(driver.EnvLibDir, dir)
	_, err := Open(7)
	if err == nil || noGPU(err) == "" && !strings.Contains(err.Error(), "GPUs") {
		t.Skipf("a driver loaded here (%v): nothing to test", err)
	}
	if errors.Is(err, driver.ErrNoDriver) && (!strings.Contains(err.Error(), "libcuda.so.1") || !strings.Contains(err.Error(), dir)) {
		t.Fatalf("error %q does not name libcuda.so.1 and %s", err, dir)
	}
}
