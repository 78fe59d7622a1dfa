package reconciler

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
)

// recoverStep does nothing going forward. Its Undo is the last act of a
// rollback: put back any live output that is not the previous version's
// (from server.bak, frontend/dist.bak), start the previous version (a no-op
// when it never stopped) and wait until it is healthy again. Its failure is
// a RollbackFailed stall.
type recoverStep struct{ h *Host }

var (
	_ Undoer    = recoverStep{}
	_ Timeouter = recoverStep{}
)

func (recoverStep) Name() string                       { return "recover" }
func (recoverStep) Do(context.Context, *Request) error { return nil }

func (s recoverStep) Timeout() time.Duration {
	c := s.h.Config
	return c.Service.StopTimeout.Duration + c.Health.Deadline.Duration + time.Minute
}

func (s recoverStep) Undo(ctx context.Context, req *Request) error {
	if req.From.BinarySHA256 == "" {
		return nil // nothing was installed before this update
	}
	// What starts is what is on disk, and a build or a hand may have
	// replaced it since the update began.
	restored, err := s.h.restoreOutputs(req)
	if err != nil {
		return fmt.Errorf("cannot restore the files of %s: %w", orNothing(req.From.Version), err)
	}
	for _, p := range restored {
		logr.FromContextOrDiscard(ctx).Info("Restored previous build output", "path", p, "version", req.From.Version)
	}
	// An empty From.Version (a build with no release tag) is started and
	// health-checked without a version check.
	if err := s.h.Service.Start(ctx); err != nil {
		return fmt.Errorf("cannot start %s again: %w", orNothing(req.From.Version), err)
	}
	if err := s.h.waitHealthy(ctx, req.From.Version); err != nil {
		return fmt.Errorf("cannot confirm %s is healthy again: %w", orNothing(req.From.Version), err)
	}
	return nil
}
