package bench

import "syscall"

// procAttr puts a cluster process in its own process group (a signal to
// it reaches nothing else) and has the kernel kill it if this process dies
// first, so a killed bench or test leaves no Kinetic behind.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
