//go:build !linux

package service

// runsFile cannot tell without /proc: it reports true.
func runsFile(pid int, path string) (bool, string, error) { return true, "", nil }
