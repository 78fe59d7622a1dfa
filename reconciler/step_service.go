package reconciler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/better-paas/updater/internal/fault"
	"github.com/better-paas/updater/internal/service"
)

// stopStep stops the running version just before its files are swapped.
// It has no Undo: recoverStep starts the previous version once every file
// is back in place.
type stopStep struct{ h *Host }

var _ Timeouter = stopStep{}

func (stopStep) Name() string { return "stop" }
func (s stopStep) Timeout() time.Duration {
	return s.h.Config.Service.StopTimeout.Duration + 30*time.Second
}

func (s stopStep) Do(ctx context.Context, req *Request) error {
	if err := s.h.Service.Stop(ctx); err != nil {
		return failure(ReasonServiceFailed, fmt.Errorf("cannot stop %s: %w", orNothing(req.From.Version), err))
	}
	return nil
}

// startStep starts the new version; Undo stops it again so its files can
// be restored.
type startStep struct{ h *Host }

var (
	_ Undoer    = startStep{}
	_ Timeouter = startStep{}
)

func (startStep) Name() string { return "start" }
func (s startStep) Timeout() time.Duration {
	return s.h.Config.Service.StopTimeout.Duration + 30*time.Second
}

func (s startStep) Do(ctx context.Context, req *Request) error {
	err := fault.Inject(ctx, "mid")
	if err == nil {
		err = s.h.Service.Start(ctx)
	}
	if errors.Is(err, service.ErrAppExited) {
		return failure(ReasonCrashedOnStart, fmt.Errorf("%s did not start: %w", req.To.Version, err))
	}
	if err != nil {
		return failure(ReasonServiceFailed, fmt.Errorf("cannot start %s: %w", req.To.Version, err))
	}
	return nil
}

func (s startStep) Undo(ctx context.Context, req *Request) error {
	if err := s.h.Service.Stop(ctx); err != nil {
		return fmt.Errorf("cannot stop %s: %w", req.To.Version, err)
	}
	return nil
}

// healthStep holds the update until the new version answers the health
// check with its own version, or fails it.
type healthStep struct{ h *Host }

var _ Timeouter = healthStep{}

func (healthStep) Name() string { return "health" }

func (s healthStep) Timeout() time.Duration {
	return s.h.Config.Health.Deadline.Duration + s.h.Config.Health.ProbeTimeout.Duration + 10*time.Second
}

func (s healthStep) Do(ctx context.Context, req *Request) error {
	if err := s.h.waitHealthy(ctx, req.To.Version); err != nil {
		return failure(ReasonHealthCheckFailed, fmt.Errorf("%s is not healthy: %w", req.To.Version, err))
	}
	return nil
}

func orNothing(version string) string {
	if version == "" {
		return "the service"
	}
	return version
}
