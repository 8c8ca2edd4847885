package main

import (
	"os"
	"path/filepath"
	"testing"
)

// envRunMain makes the test binary behave as the fdsm command, so process
// tests (the launcher, distributed training, bench ddp) run real workers
// without building a separate binary. Arguments after "--" (or all of them,
// without one) are fdsm's.
const envRunMain = "FDSM_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" {
		os.Args = append(os.Args[:1], os.Args[1+indexOfDashDash(os.Args[1:]):]...)
		main()
		os.Exit(0)
	}
	code := m.Run()
	if tinyRunDir != "" {
		os.RemoveAll(filepath.Dir(tinyRunDir))
	}
	os.Exit(code)
}

// indexOfDashDash returns the position just past "--" in args (test flags
// come before it), or 0 when absent.
func indexOfDashDash(args []string) int {
	for i, a := range args {
		if a == "--" {
			return i + 1
		}
	}
	return 0
}
