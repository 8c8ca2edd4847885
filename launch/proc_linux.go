//go:build linux

package launch

import "syscall"

// sysProcAttr puts a worker in its own process group, so that signals reach
// its children too and a terminal's Ctrl-C reaches only the launcher (which
// forwards it), and has the kernel kill the worker if the launcher dies
// without cleaning up. Pdeathsig fires when the forking thread exits, which
// is why workers are started from a goroutine locked to its thread.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// signalGroup sends sig to the process group led by pid.
func signalGroup(pid int, sig syscall.Signal) error { return syscall.Kill(-pid, sig) }
