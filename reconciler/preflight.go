package reconciler

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/preflight"
)

// buildHeadroom is what a build may add beyond its outputs (compiler and
// package caches), on top of twice the current outputs.
const buildHeadroom = 256 << 20

// preflight checks, before an update touches anything, that it can run to
// the end: room for what the backup would copy and for the build, the build
// programs, and the remote, whose URL remoteURL returns. A failure is
// retried with backoff, since space can be freed and programs installed
// without editing desired.yaml.
func (r *Reconciler) preflight(ctx context.Context, remoteURL func(string) (string, error)) error {
	c := r.cfg
	var cmds [][]string
	var outputs []string
	extra := int64(buildHeadroom)
	for i, b := range []config.BuildStep{c.Build.Backend, c.Build.Frontend} {
		// A prebuilt output is downloaded, not built: it needs the same
		// space and no build program.
		prebuilt := c.IsPrebuilt() && (i == 0 || c.FrontendDir() != "")
		if !b.Enabled() && !prebuilt {
			continue
		}
		out := filepath.Join(c.InstallDir, b.Output)
		outputs = append(outputs, filepath.Dir(out))
		size, err := outputSize(ctx, out)
		if err != nil {
			return failure(ReasonPreflightFailed, err)
		}
		extra += 2 * size
		// A program inside the checkout may arrive with the new tag, so
		// only programs from PATH or absolute paths are checked here.
		if prebuilt {
			continue
		}
		if p := b.Command[0]; !strings.Contains(p, "/") || filepath.IsAbs(p) {
			cmds = append(cmds, b.Command)
		}
	}
	err := preflight.Run(ctx, preflight.Input{
		DataDir:      c.DataDir,
		BackupPaths:  c.Backup.Paths,
		BackupDir:    c.BackupDir,
		InstallDir:   c.InstallDir,
		BuildOutputs: outputs,
		// Build programs are looked up on the build's PATH below, not
		// on the daemon's.
		Commands:   nil,
		Remote:     c.Remote,
		RemoteURL:  remoteURL,
		ExtraBytes: extra,
	})
	env := append(os.Environ(), c.BuildEnv(os.Environ())...)
	err = errors.Join(err, preflight.BuildEnv(env, cmds))
	return failure(ReasonPreflightFailed, err)
}

// outputSize is the size of a build output: a file (the backend binary) or
// a folder (the frontend build); 0 before the first build.
func outputSize(ctx context.Context, path string) (int64, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, nil
	case err != nil:
		return 0, err
	case fi.Mode().IsRegular():
		return fi.Size(), nil
	}
	return preflight.DirSize(ctx, path)
}
