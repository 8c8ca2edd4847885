package nccl

import (
	"fmt"
	"os"
	"sync"
)

// loaded is the process's NCCL. Success is kept for the life of the
// process (NCCL's threads need the code mapped, so it is never unloaded);
// a failure is kept only while FDSM_NCCL_LIB is unchanged, so a caller (or
// a test) that sets it and asks again gets a fresh search.
var loaded struct {
	mu  sync.Mutex
	lib library
	err error
	env string // FDSM_NCCL_LIB when err was found
}

// defaultLibrary returns the process's NCCL, searching on first use.
func defaultLibrary() (library, error) {
	if !cgoEnabled {
		return nil, errNoCgo
	}
	env := os.Getenv(EnvLibrary)
	loaded.mu.Lock()
	defer loaded.mu.Unlock()
	if loaded.lib != nil {
		return loaded.lib, nil
	}
	if loaded.err != nil && loaded.env == env {
		return nil, loaded.err
	}
	places, notes := searchList(env, pythonSitePackages)
	loaded.lib, loaded.err = loadFirst(places, notes, openLibrary)
	loaded.env = env
	return loaded.lib, loaded.err
}

// LibraryPath returns the libnccl.so.2 in use (as it was passed to dlopen),
// loading it if needed.
func LibraryPath() (string, error) {
	lib, err := defaultLibrary()
	if err != nil {
		return "", err
	}
	return lib.path(), nil
}

// Version returns the loaded NCCL's version, e.g. "2.28.9".
func Version() (string, error) {
	lib, err := defaultLibrary()
	if err != nil {
		return "", err
	}
	return libraryVersion(lib)
}

func libraryVersion(lib library) (string, error) {
	code, r := lib.getVersion()
	if r != Success {
		return "", callError(lib, "ncclGetVersion", r, 0)
	}
	return versionString(code), nil
}

// versionString decodes NCCL_VERSION_CODE: major*10000+minor*100+patch
// since 2.9, major*1000+minor*100+patch before.
func versionString(code int) string {
	if code >= 10000 {
		return fmt.Sprintf("%d.%d.%d", code/10000, code/100%100, code%100)
	}
	return fmt.Sprintf("%d.%d.%d", code/1000, code/100%10, code%100)
}
