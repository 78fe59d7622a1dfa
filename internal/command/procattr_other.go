//go:build !linux

package command

import "syscall"

// procAttr puts the command in its own process group, so a timeout stops
// the whole group. Other systems have no Pdeathsig, so a build can outlive
// a daemon that died; the resumed build step removes $(OUTPUT) before it
// builds again, so what the orphan writes is never swapped in.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
