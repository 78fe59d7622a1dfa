package reconciler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/better-paas/updater/internal/fault"
	"github.com/better-paas/updater/internal/gitrepo"
)

// fetchStep brings the target tag into the checkout. It is skipped when the
// tag is already there at the expected commit, so a retry does not touch
// the network.
type fetchStep struct{ h *Host }

var (
	_ Checker   = fetchStep{}
	_ Timeouter = fetchStep{}
)

func (fetchStep) Name() string             { return "fetch" }
func (s fetchStep) Timeout() time.Duration { return s.h.Config.Timeouts.Fetch.Duration }

func (s fetchStep) Done(_ context.Context, req *Request) (bool, error) {
	commit, err := s.h.Repo.ResolveTag(req.To.Version)
	if errors.Is(err, gitrepo.ErrTagNotFound) {
		return false, nil
	}
	if err != nil {
		return false, failure(ReasonFetchFailed, err)
	}
	return commit == req.To.Commit, nil
}

func (s fetchStep) Do(ctx context.Context, req *Request) error {
	tag := req.To.Version
	err := fault.Inject(ctx, "mid")
	if err == nil {
		err = s.h.Repo.FetchTag(ctx, s.h.Config.Remote, tag)
	}
	if err != nil {
		if errors.Is(err, gitrepo.ErrTagNotFound) {
			return failure(ReasonTagNotFound, fmt.Errorf("cannot fetch tag %s from %s: %w", tag, s.h.Config.Remote, err))
		}
		return failure(ReasonFetchFailed, fmt.Errorf("cannot fetch tag %s from %s: %w", tag, s.h.Config.Remote, err))
	}
	commit, err := s.h.Repo.ResolveTag(tag)
	if err != nil {
		return failure(ReasonFetchFailed, fmt.Errorf("cannot resolve fetched tag %s: %w", tag, err))
	}
	if commit != req.To.Commit {
		return failure(ReasonTagMoved, fmt.Errorf("tag %s points to %s, but the update was planned for %s; the tag was moved upstream", tag, short(commit), short(req.To.Commit)))
	}
	return nil
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
