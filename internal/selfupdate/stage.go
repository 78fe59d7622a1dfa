package selfupdate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/better-paas/updater/internal/artifact"
	"github.com/better-paas/updater/internal/atomicfile"
	"github.com/better-paas/updater/internal/release"
	"github.com/better-paas/updater/internal/releases"
)

// Reasons a self-update failed, in status.yaml's updater.lastSelfUpdate.
const (
	// ReasonUntrusted: the archive, SHA256SUMS or its signature did not
	// verify, or the archive holds no usable binary.
	ReasonUntrusted = "Untrusted"
	// ReasonVersionMismatch: the new binary reports another version.
	ReasonVersionMismatch = "VersionMismatch"
	// ReasonTrialFailed: the new binary's trial plan failed where the
	// running one's succeeds.
	ReasonTrialFailed = "TrialFailed"
	// ReasonReconcileFailed: the new updater ran as the daemon and its
	// first MaxTrialErrors reconciles failed.
	ReasonReconcileFailed = "ReconcileFailed"
	// ReasonExited: the new updater stopped before it reconciled once.
	ReasonExited = "ExitedOnTrial"
)

// failure is a refusal that blames the release: recorded Failed and never
// tried again. Any other staging error is the host's or the network's.
type failure struct {
	reason string
	err    error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

func blame(reason string, err error) error { return &failure{reason: reason, err: err} }

// stage downloads and verifies rel's archive for this platform, puts its
// binary beside the running one as <exe>.new and tries it. It returns
// the staged binary's path; on error <exe>.new is removed.
func (u *Updater) stage(ctx context.Context, rel releases.Release) (path string, err error) {
	t := release.Target{OS: u.o.GOOS, Arch: u.o.GOARCH}
	name := release.ArchiveName(release.Name, rel.Version, t)
	f := artifact.Fetcher{
		Downloader: artifact.Downloader{MaxSize: maxBinarySize},
		Key:        u.key,
		Dir:        filepath.Join(u.dir, "downloads"),
	}
	defer func() {
		// The download is kept for a resume only while it may succeed.
		var blamed *failure
		if err == nil || errors.As(err, &blamed) {
			_ = os.RemoveAll(filepath.Join(f.Dir, rel.Version))
		}
	}()
	v, err := f.Get(ctx, rel.Version, rel.Assets, name)
	switch {
	case errors.Is(err, artifact.ErrUntrusted):
		return "", blame(ReasonUntrusted, fmt.Errorf("cannot trust %s of %s: %w", name, rel.Version, err))
	case err != nil:
		// ErrNoAsset too: assets are often uploaded after the release
		// is published, so a missing one may be there next time.
		return "", fmt.Errorf("cannot download %s of %s: %w", name, rel.Version, err)
	}
	unpacked, err := os.MkdirTemp(u.dir, "unpack-")
	if err != nil {
		return "", fmt.Errorf("cannot unpack %s: %w", v.Path, err)
	}
	defer os.RemoveAll(unpacked)
	root := filepath.Join(unpacked, "archive")
	if err := artifact.Unpack(ctx, v.Path, root, artifact.Limits{Files: 1000, Bytes: 2 * maxBinarySize}); err != nil {
		if errors.Is(err, artifact.ErrUntrusted) {
			return "", blame(ReasonUntrusted, fmt.Errorf("cannot unpack %s: %w", name, err))
		}
		return "", fmt.Errorf("cannot unpack %s: %w", name, err)
	}
	bin := filepath.Join(root, filepath.FromSlash(release.BinaryPath(rel.Version, t)))
	if fi, err := os.Lstat(bin); err != nil || !fi.Mode().IsRegular() {
		return "", blame(ReasonUntrusted, fmt.Errorf("%s holds no binary %s", name, release.BinaryPath(rel.Version, t)))
	}
	staged := u.o.Executable + ".new"
	if err := copyExecutable(bin, staged); err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(staged)
		}
	}()
	if err := u.checkVersion(ctx, staged, rel.Version); err != nil {
		return "", err
	}
	if err := u.tryOut(ctx, staged, rel.Version); err != nil {
		return "", err
	}
	return staged, nil
}

// copyExecutable copies src to dst (0755), durably: through a temporary
// file in dst's folder, fsynced and renamed.
func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", src, err)
	}
	defer in.Close()
	dir := filepath.Dir(dst)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return fmt.Errorf("cannot write beside the running updater in %s (the daemon must be able to replace its own binary there): %w", dir, err)
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, in)
	if err == nil {
		err = tmp.Chmod(0o755)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", tmp.Name(), err)
	}
	return atomicfile.Rename(tmp.Name(), dst)
}

// checkVersion runs `bin version -o json` and requires it to report want.
func (u *Updater) checkVersion(ctx context.Context, bin, want string) error {
	ctx, cancel := context.WithTimeout(ctx, u.o.VersionTimeout)
	defer cancel()
	out, errOut, err := run(ctx, bin, "version", "-o", "json")
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s", u.o.VersionTimeout)
		}
		return blame(ReasonVersionMismatch, fmt.Errorf("`%s version -o json` of %s failed: %w%s", filepath.Base(bin), want, err, tail(errOut)))
	}
	var v struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return blame(ReasonVersionMismatch, fmt.Errorf("`%s version -o json` of %s printed no version: %w", filepath.Base(bin), want, err))
	}
	if v.Version != want {
		return blame(ReasonVersionMismatch, fmt.Errorf("the binary of release %s reports version %q", want, v.Version))
	}
	return nil
}

// tryOut runs `bin plan -o json --config <updater.yaml>`: read-only, it
// loads the config, reads status.yaml, observes the host and decides, as
// the new daemon's first reconcile would. When it fails, the running
// binary's plan is run too: if that fails as well, the host or the
// network is at fault and the trial says nothing about the release.
func (u *Updater) tryOut(ctx context.Context, bin, version string) error {
	newErr := u.plan(ctx, bin)
	if newErr == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if oldErr := u.plan(ctx, u.o.Executable); oldErr != nil {
		return fmt.Errorf("the trial of updater %s is inconclusive: its plan fails (%w), but so does the running %s's (%v); trying again later", version, newErr, u.o.Version, oldErr)
	}
	return blame(ReasonTrialFailed, fmt.Errorf("the trial of updater %s failed where the running %s succeeds: %w", version, u.o.Version, newErr))
}

// plan runs one trial plan of bin.
func (u *Updater) plan(ctx context.Context, bin string) error {
	ctx, cancel := context.WithTimeout(ctx, u.o.TrialTimeout)
	defer cancel()
	_, errOut, err := run(ctx, bin, "plan", "-o", "json", "--config", u.o.ConfigPath)
	if err == nil {
		return nil
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %s", u.o.TrialTimeout)
	}
	return fmt.Errorf("`%s plan` %w%s", filepath.Base(bin), err, tail(errOut))
}

// run runs bin with args and returns its stdout and stderr (each capped).
// The child does not get systemd's notify socket: it must not speak for
// the daemon.
func run(ctx context.Context, bin string, args ...string) (stdout, stderr []byte, err error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	out, errOut := &cappedBuffer{max: 1 << 20}, &cappedBuffer{max: 64 << 10, keepTail: true}
	cmd.Stdout, cmd.Stderr = out, errOut
	// A grandchild holding the pipes open must not hold the pass.
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		err = fmt.Errorf("exited with %s", ee.ProcessState)
	}
	return out.Bytes(), errOut.Bytes(), err
}

// cappedBuffer keeps about max bytes of what is written to it: the first
// ones, or with keepTail the last ones (where an error message is).
type cappedBuffer struct {
	bytes.Buffer
	max      int
	keepTail bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	switch {
	case b.keepTail:
		b.Buffer.Write(p)
		if b.Len() > 2*b.max {
			b.Buffer.Next(b.Len() - b.max)
		}
	case b.Len() < b.max:
		b.Buffer.Write(p[:min(len(p), b.max-b.Len())])
	}
	return len(p), nil
}

// tail returns ": " and the last lines of a command's stderr, or "".
func tail(stderr []byte) string {
	s := strings.TrimSpace(string(stderr))
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	s = strings.Join(lines, "\n")
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return ": " + s
}
