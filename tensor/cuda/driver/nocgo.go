//go:build !cgo

package driver

const cgoEnabled = false

// openDriver always fails: the driver is reached through the cgo shim.
func openDriver(string) (driverAPI, error) { return nil, errNoCgo }

// openBlas always fails, as openDriver.
func openBlas(string, driverAPI) (blasAPI, error) { return nil, errNoCgo }
