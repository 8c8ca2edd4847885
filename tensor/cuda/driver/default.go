package driver

import (
	"os"
	"sync"
)

// process is the process's driver. Success is kept for the life of the
// process (the driver's threads need the code mapped, so it is never
// unloaded); a failure is kept only while FDSM_CUDA_LIB_DIR is unchanged, so
// a caller (or a test) that sets it and asks again gets a fresh search.
var process struct {
	mu  sync.Mutex
	drv *Driver
	err error
	env string // FDSM_CUDA_LIB_DIR when err was found
}

// Open returns the process's CUDA driver, loading libcuda.so.1 and calling
// cuInit(0) on first use. Its error matches ErrNoDriver when no driver
// could be loaded (the error lists every place tried) and ErrInit when
// cuInit failed (usually: no GPU visible). Safe from any goroutine.
func Open() (*Driver, error) {
	if !cgoEnabled {
		return nil, errNoCgo
	}
	env := os.Getenv(EnvLibDir)
	process.mu.Lock()
	defer process.mu.Unlock()
	if process.drv != nil {
		return process.drv, nil
	}
	if process.err != nil && process.env == env {
		return nil, process.err
	}
	process.drv, process.err = openProcessDriver(env)
	process.env = env
	return process.drv, process.err
}

func openProcessDriver(dir string) (*Driver, error) {
	lib, err := search(driverSpec, dir, pythonSitePackages, openDriver)
	if err != nil {
		return nil, err
	}
	return newDriver(lib)
}

// blasLoader is a Driver's cuBLAS, searched on first use with the same
// keep-success, retry-on-new-setting rule as the driver.
type blasLoader struct {
	mu  sync.Mutex
	lib blasAPI
	err error
	env string
}

// blas returns d's cuBLAS library, searching for it on first use.
func (d *Driver) blas() (blasAPI, error) {
	env := os.Getenv(EnvLibDir)
	b := &d.blasLib
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lib != nil {
		return b.lib, nil
	}
	if b.err != nil && b.env == env {
		return nil, b.err
	}
	open := func(path string) (blasAPI, error) { return openBlas(path, d.lib) }
	b.lib, b.err = search(blasSpec, env, pythonSitePackages, open)
	b.env = env
	return b.lib, b.err
}
