package preflight

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/better-paas/updater/internal/command"
)

// ErrBuildEnv is wrapped by a BuildEnv failure about a folder of the
// build's environment: HOME unset, not absolute, not a folder, or not
// writable (nor creatable).
var ErrBuildEnv = errors.New("unusable build environment")

// buildEnvFolders are the variables that name a folder a build writes
// into. HOME must be set; the others are checked when set.
var buildEnvFolders = []string{"HOME", "GOCACHE", "GOMODCACHE", "npm_config_cache", "TMPDIR"}

// BuildEnvChecks checks the environment a build will run with, before the
// update starts, and returns one Check per folder variable that is set
// (HOME always) and one per command, in that order.
//
// env is the complete environment as the build gets it: the daemon's,
// then config.Config.BuildEnv's entries, e.g.
// append(os.Environ(), cfg.BuildEnv(os.Environ())...); for each name the
// last entry counts, as for the build.
//
//   - HOME must be set to an absolute path; HOME, GOCACHE, GOMODCACHE,
//     npm_config_cache and TMPDIR, when set, must each be a writable
//     folder, or not exist yet under a writable folder (the build step
//     creates the ones in the state folder; Go and npm create their own
//     caches). Failures wrap ErrBuildEnv.
//   - argv[0] of each command must be found as command.Run will find it:
//     without a slash on env's PATH, absolute as it is. Failures wrap
//     ErrCommandNotFound or ErrCommandNotExecutable. A relative path with
//     a slash is skipped: it is inside the checkout and arrives with the
//     version being installed.
//
// Like the rest of the package it only reads: it creates no folder, so
// that running it as another user (root running the check command) cannot
// leave folders the daemon cannot write.
func BuildEnvChecks(env []string, commands [][]string) []Check {
	var checks []Check
	for _, name := range buildEnvFolders {
		v, ok := lastEnv(env, name)
		if !ok && name != "HOME" {
			continue
		}
		checks = append(checks, Check{Name: "build environment " + name, Err: checkBuildFolder(name, v)})
	}
	path, _ := lastEnv(env, "PATH")
	for i, argv := range commands {
		if len(argv) == 0 || argv[0] == "" {
			checks = append(checks, Check{Name: fmt.Sprintf("build command #%d", i+1),
				Err: fmt.Errorf("cannot find build command #%d: it is empty; %s: %w", i+1, fixCommand, ErrCommandNotFound)})
			continue
		}
		name := argv[0]
		if strings.Contains(name, "/") && !filepath.IsAbs(name) {
			continue
		}
		c := Check{Name: "build command " + name}
		if _, err := command.LookPath(name, "", env); err != nil {
			switch {
			case !strings.Contains(name, "/"):
				c.Err = fmt.Errorf("cannot find build command %q on the build's PATH (%s): install it, add its folder to build.env PATH, or %s: %w",
					name, path, fixCommand, ErrCommandNotFound)
			case errors.Is(err, fs.ErrNotExist):
				c.Err = fmt.Errorf("cannot find build command %s: no such file; install it or %s: %w", name, fixCommand, ErrCommandNotFound)
			default:
				c.Err = fmt.Errorf("cannot run build command %s: %w; %s: %w", name, err, fixCommand, ErrCommandNotExecutable)
			}
		}
		checks = append(checks, c)
	}
	return checks
}

// BuildEnv runs BuildEnvChecks and returns nil when all pass, or
// errors.Join of the failures. The reconciler calls it with Run, before an
// update touches anything: a build that cannot find its HOME or its
// compiler fails on the host's account, not the release's.
func BuildEnv(env []string, commands [][]string) error {
	var errs []error
	for _, c := range BuildEnvChecks(env, commands) {
		if c.Err != nil {
			errs = append(errs, c.Err)
		}
	}
	return errors.Join(errs...)
}

// checkBuildFolder checks that dir, the value of variable name, is a
// writable folder or can be created as one.
func checkBuildFolder(name, dir string) error {
	fix := "set it in updater.yaml's build.env or in the daemon's environment"
	switch {
	case dir == "":
		return fmt.Errorf("cannot use build environment: %s is not set; %s: %w", name, fix, ErrBuildEnv)
	case !filepath.IsAbs(dir):
		return fmt.Errorf("cannot use build environment: %s=%s is not an absolute path; %s: %w", name, dir, fix, ErrBuildEnv)
	}
	p := dir
	for {
		fi, err := os.Stat(p)
		if (errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR)) && p != filepath.Dir(p) {
			p = filepath.Dir(p) // not there yet: can it be created?
			continue
		}
		switch {
		case err != nil:
			return fmt.Errorf("cannot use build environment: %s=%s: %w: %w", name, dir, err, ErrBuildEnv)
		case !fi.IsDir():
			return fmt.Errorf("cannot use build environment: %s=%s: %s is not a folder; %s: %w", name, dir, p, fix, ErrBuildEnv)
		}
		if err := unix.Access(p, unix.W_OK|unix.X_OK); err != nil {
			what := "is not writable"
			if p != dir {
				what = fmt.Sprintf("does not exist and %s is not writable", p)
			}
			return fmt.Errorf("cannot use build environment: %s=%s %s (%v) for the user the updater runs as; fix its owner or %s: %w",
				name, dir, what, err, fix, ErrBuildEnv)
		}
		return nil
	}
}

// lastEnv returns the value of the last name= entry of env, the one a
// process sees.
func lastEnv(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if n, v, ok := strings.Cut(env[i], "="); ok && n == name {
			return v, true
		}
	}
	return "", false
}
