//go:build !unix

package launch

import (
	"os"
	"syscall"
)

// sysProcAttr: no process groups here; workers are signalled one by one.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// signalGroup can only kill the worker itself on this platform: there is no
// SIGTERM to forward, so every signal ends it at once.
func signalGroup(pid int, _ syscall.Signal) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}
