//go:build !linux

package service

import "context"

// waitExit has no pidfd to wait on off Linux: it returns false at once,
// and the caller polls.
func waitExit(context.Context, int, func() bool) bool { return false }
