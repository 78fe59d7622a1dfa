//go:build !linux

package service

import "os"

// socketFrom is Linux-only (pidfd_getfd); elsewhere the supervisor binds a
// new socket once an adopted backend has stopped.
func socketFrom(int, ListenAddr) (*os.File, error) { return nil, nil }
