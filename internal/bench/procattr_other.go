//go:build !linux

package bench

import "syscall"

// procAttr puts a cluster process in its own process group.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
