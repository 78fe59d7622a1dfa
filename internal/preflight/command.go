package preflight

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

var (
	// ErrCommandNotFound means a build command's program does not exist:
	// not in PATH, or no file at the path given.
	ErrCommandNotFound = errors.New("build command not found")
	// ErrCommandNotExecutable means a build command's program exists but
	// cannot be run: no execute bit, or a folder.
	ErrCommandNotExecutable = errors.New("build command is not executable")
)

// fixCommand is the advice every command failure ends with.
const fixCommand = "fix updater.yaml's build command"

// commandChecks resolves argv[0] of each command the way the build step
// runs it (see Input.Commands), so preflight and the build agree on which
// program is meant.
func commandChecks(ctx context.Context, in Input) []Check {
	var checks []Check
	for i, argv := range in.Commands {
		if len(argv) == 0 || argv[0] == "" {
			checks = append(checks, Check{Name: fmt.Sprintf("build command #%d", i+1),
				Err: fmt.Errorf("cannot find build command #%d: it is empty; %s: %w", i+1, fixCommand, ErrCommandNotFound)})
			continue
		}
		c := Check{Name: "build command " + argv[0]}
		if err := ctx.Err(); err != nil {
			c.Err = fmt.Errorf("cannot check build command %s: %w", argv[0], err)
		} else {
			c.Err = checkProgram(argv[0], in.InstallDir)
		}
		checks = append(checks, c)
	}
	return checks
}

func checkProgram(argv0, installDir string) error {
	if !strings.Contains(argv0, "/") {
		if _, err := exec.LookPath(argv0); err != nil {
			// exec.ErrDot (found only through a relative PATH entry) is
			// refused too: the build step does not run such programs.
			if errors.Is(err, exec.ErrDot) {
				return fmt.Errorf("cannot find build command %q: PATH only finds it relative to the current folder; use an absolute PATH entry or %s: %w",
					argv0, fixCommand, ErrCommandNotFound)
			}
			return fmt.Errorf("cannot find build command %q in PATH (%s): install it or %s: %w",
				argv0, os.Getenv("PATH"), fixCommand, ErrCommandNotFound)
		}
		return nil
	}
	p := argv0
	if !filepath.IsAbs(p) {
		p = filepath.Join(installDir, p)
	}
	where := p
	if p != argv0 {
		where = fmt.Sprintf("%s (%s)", argv0, p)
	}
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("cannot find build command %s: no such file; install it or %s: %w", where, fixCommand, ErrCommandNotFound)
	case err != nil:
		return fmt.Errorf("cannot inspect build command %s: %w", where, err)
	case fi.IsDir():
		return fmt.Errorf("cannot run build command %s: it is a folder; %s: %w", where, fixCommand, ErrCommandNotExecutable)
	case fi.Mode()&0o111 == 0:
		return fmt.Errorf("cannot run build command %s: it is not executable; chmod +x it or %s: %w", where, fixCommand, ErrCommandNotExecutable)
	}
	return nil
}
