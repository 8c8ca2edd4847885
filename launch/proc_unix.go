//go:build unix && !linux

package launch

import "syscall"

// sysProcAttr puts a worker in its own process group, so that signals reach
// its children too and a terminal's Ctrl-C reaches only the launcher (which
// forwards it). Without Pdeathsig, a launcher killed by SIGKILL leaves its
// workers running here.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// signalGroup sends sig to the process group led by pid.
func signalGroup(pid int, sig syscall.Signal) error { return syscall.Kill(-pid, sig) }
