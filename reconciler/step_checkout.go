package reconciler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/better-paas/updater/internal/gitrepo"
)

// checkoutStep moves the checkout to the target commit (detached HEAD),
// without ever forcing: untracked and ignored files such as data/ and .env
// stay as they are, and local modifications to tracked files refuse it. A
// target that tracks files in dataDir or backup.paths is refused
// (DataTracked) before anything is written.
// Undo moves it back to the previous commit.
type checkoutStep struct{ h *Host }

var (
	_ Checker   = checkoutStep{}
	_ Undoer    = checkoutStep{}
	_ Timeouter = checkoutStep{}
)

func (checkoutStep) Name() string             { return "checkout" }
func (s checkoutStep) Timeout() time.Duration { return s.h.Config.Timeouts.Checkout.Duration }

func (s checkoutStep) Done(_ context.Context, req *Request) (bool, error) {
	head, err := s.h.Repo.Head()
	if err != nil {
		return false, failure(ReasonCheckoutFailed, err)
	}
	return head == req.To.Commit, nil
}

func (s checkoutStep) Do(ctx context.Context, req *Request) error {
	// Checked again here: before the fetch the release's tree was not
	// there to look at.
	if err := untrackedState(s.h.Config, s.h.Repo, req.To); err != nil {
		return failure(ReasonDataTracked, err)
	}
	return s.checkout(ctx, req.To.Commit, req.To.Version)
}

func (s checkoutStep) Undo(ctx context.Context, req *Request) error {
	if req.From.Commit == "" {
		return nil
	}
	return s.checkout(ctx, req.From.Commit, req.From.Version)
}

func (s checkoutStep) checkout(ctx context.Context, commit, version string) error {
	head, err := s.h.Repo.Head()
	if err != nil {
		return failure(ReasonCheckoutFailed, err)
	}
	if head == commit {
		return nil
	}
	if err := s.h.Repo.Checkout(ctx, commit); err != nil {
		switch {
		case errors.Is(err, gitrepo.ErrLocalModifications):
			return failure(ReasonLocalModifications, fmt.Errorf("cannot check out %s (%s): %w", version, short(commit), err))
		case errors.Is(err, gitrepo.ErrUntrackedInTheWay):
			// A retry cannot move the file: a human must, so stall, saying how.
			return failure(ReasonUntrackedInTheWay, untrackedInTheWay(version, err))
		}
		return failure(ReasonCheckoutFailed, fmt.Errorf("cannot check out %s (%s): %w", version, short(commit), err))
	}
	return nil
}
