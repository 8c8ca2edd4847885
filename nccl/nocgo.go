//go:build !cgo

package nccl

const cgoEnabled = false

// openLibrary always fails: NCCL is reached through the cgo shim (dlopen).
func openLibrary(string) (library, error) { return nil, errNoCgo }
