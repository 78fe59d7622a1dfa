package release

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Checkout is what Build needs to know about the git checkout it builds.
type Checkout struct {
	Commit string    // HEAD's full object name
	Time   time.Time // HEAD's committer time, UTC
	// Changes lists `git status --porcelain` lines: modified, staged and
	// untracked (not ignored) files. A release built with changes would
	// not match its commit.
	Changes []string
}

// ReadCheckout reads HEAD and the work tree's changes of the git checkout
// at dir.
func ReadCheckout(ctx context.Context, dir string) (Checkout, error) {
	head, err := git(ctx, dir, "log", "-1", "--format=%H %ct", "HEAD")
	if err != nil {
		return Checkout{}, err
	}
	hash, unix, ok := strings.Cut(strings.TrimSpace(head), " ")
	secs, perr := strconv.ParseInt(unix, 10, 64)
	if !ok || perr != nil {
		return Checkout{}, fmt.Errorf("cannot read HEAD of %s: unexpected git log output %q", dir, head)
	}
	status, err := git(ctx, dir, "status", "--porcelain")
	if err != nil {
		return Checkout{}, err
	}
	c := Checkout{Commit: hash, Time: time.Unix(secs, 0).UTC()}
	for l := range strings.Lines(status) {
		if l = strings.TrimRight(l, "\n"); l != "" {
			c.Changes = append(c.Changes, l)
		}
	}
	return c, nil
}

// SourceDateEpoch parses $SOURCE_DATE_EPOCH (reproducible-builds.org): a
// decimal count of seconds since 1970, which replaces the commit time.
func SourceDateEpoch(value string) (time.Time, error) {
	secs, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
	if err != nil || secs < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a non-negative count of seconds since 1970", value)
	}
	return time.Unix(secs, 0).UTC(), nil
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("cannot run git %s in %s (a release is built from a git checkout): %w: %s", strings.Join(args, " "), dir, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return string(out), nil
}
