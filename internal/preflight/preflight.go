package preflight

import (
	"context"
	"errors"
	"fmt"
)

// Check is the result of one check: Err is nil when it passed.
type Check struct {
	// Name says what was checked, e.g. "free space on /var",
	// "build command npm", "remote origin".
	Name string
	Err  error
}

// Input describes the install and the update about to run. Empty fields
// skip the checks that need them.
type Input struct {
	// DataDir is the app's data folder. What its backup would copy must
	// fit in BackupDir's filesystem: new and changed files, not those
	// unchanged since the newest complete backup in BackupDir, which are
	// hard-linked (see BackupNeed for the margin). A DataDir that does
	// not exist needs no space (the backup records it as missing).
	DataDir string
	// BackupPaths are the extra paths backed up with DataDir (backup.paths
	// of updater.yaml), relative to InstallDir: what their backup would
	// copy counts too, estimated the same way.
	BackupPaths []string
	// BackupDir is the folder backups are written into; it need not exist
	// yet (its nearest existing parent decides the filesystem).
	BackupDir string
	// InstallDir is the git checkout. Its filesystem needs ExtraBytes, and
	// build commands whose program contains a slash are relative to it.
	InstallDir string
	// BuildOutputs are the folders the build writes its staged outputs
	// into, relative to InstallDir unless absolute. Each filesystem among
	// InstallDir and these folders needs ExtraBytes (once).
	BuildOutputs []string
	// Commands are the argv of the build commands. argv[0] must be an
	// executable file: looked up in PATH when it has no slash, relative to
	// InstallDir when it has one and is not absolute (the way the build
	// step runs it).
	Commands [][]string
	// Remote is the git remote updates are fetched from ("origin"). When
	// set, RemoteURL(Remote) must succeed, and its URL must match
	// WantRemoteURL when that is set.
	Remote        string
	WantRemoteURL string
	// RemoteURL returns the URL of a remote of the checkout, e.g.
	// gitrepo.(*Repo).RemoteURL; required when Remote is set. A function
	// keeps this package from opening the checkout itself.
	RemoteURL func(name string) (string, error)
	// ExtraBytes is the headroom the build needs, e.g. twice the current
	// binary plus the frontend size. Must not be negative.
	ExtraBytes int64
}

// Checks runs every check and returns all results, passing ones included,
// in a stable order: free space (one per filesystem), build commands (in
// the order given), remote. It only reads; it is safe to call at any time
// and as often as wanted. When ctx ends, the checks still to run report
// ctx's error.
func Checks(ctx context.Context, in Input) []Check {
	if in.ExtraBytes < 0 {
		return []Check{{Name: "input", Err: fmt.Errorf("cannot run preflight checks: ExtraBytes is negative (%d)", in.ExtraBytes)}}
	}
	var checks []Check
	checks = append(checks, spaceChecks(ctx, in, probeFilesystem)...)
	checks = append(checks, commandChecks(ctx, in)...)
	if c, ok := remoteCheck(in); ok {
		checks = append(checks, c)
	}
	return checks
}

// Run runs every check (see Checks) and returns nil when all pass, or
// errors.Join of each failure. Each failure wraps ErrInsufficientSpace (as
// a *SpaceError), ErrCommandNotFound, ErrCommandNotExecutable,
// ErrRemoteMismatch or the RemoteURL function's error. When ctx ends
// first, Run returns "cannot run preflight checks: " wrapping ctx's error
// instead, since a half-run check proves nothing.
func Run(ctx context.Context, in Input) error {
	checks := Checks(ctx, in)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cannot run preflight checks: %w", err)
	}
	var errs []error
	for _, c := range checks {
		if c.Err != nil {
			errs = append(errs, c.Err)
		}
	}
	return errors.Join(errs...)
}
