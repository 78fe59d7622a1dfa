package command

import "syscall"

// procAttr puts the command in its own process group (a timeout stops the
// whole group) and, on Linux, has the kernel kill it when the daemon dies
// (Pdeathsig): a daemon that dies mid-build does not leave the build
// writing $(OUTPUT) behind the back of the daemon that resumes the update.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
