package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/better-paas/updater/internal/command"
	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/layout"
)

// buildStep runs one build command from updater.yaml. The command writes to
// $(OUTPUT), a path beside the live output ("server.new", "dist.new"), so a
// failed build leaves what runs untouched; swapStep moves it into place.
// A command that writes a live output itself (a release's build script that
// always writes ./server) fails the step, and the previous output is put
// back: the running version's files are not the build's to change.
//
// The command runs with the daemon's environment plus Config.BuildEnv (a
// HOME, a PATH and the Go and npm caches in the state folder when the
// daemon lacks them, then build.env) plus VERSION, COMMIT and OUTPUT, so
// a daemon started without HOME does not fail a good release. Its output
// goes to <stateDir>/logs/<step>.log, capped by command.LogFile at the
// first and the last MiB; the status message quotes the last lines. With
// Host.Events set, its first lines are also published as they come
// (logLines).
type buildStep struct {
	h     *Host
	name  string
	build config.BuildStep
}

var (
	_ Undoer    = buildStep{}
	_ Timeouter = buildStep{}
)

func newBuildStep(h *Host, name string, b config.BuildStep) buildStep {
	return buildStep{h: h, name: name, build: b}
}

func (s buildStep) Name() string           { return s.name }
func (s buildStep) Timeout() time.Duration { return s.build.Timeout.Duration + 10*time.Second }

// staged is where the build writes: the live output plus ".new".
func (s buildStep) staged() string {
	return filepath.Join(s.h.Config.InstallDir, s.build.Output) + ".new"
}

func (s buildStep) Do(ctx context.Context, req *Request) error {
	out := s.staged()
	if err := os.RemoveAll(out); err != nil {
		return failure(ReasonBuildFailed, fmt.Errorf("cannot remove stale %s: %w", out, err))
	}
	if err := s.h.keepOutputs(req); err != nil {
		return err // the host's fault, not the release's: retried
	}
	vars := map[string]string{"VERSION": req.To.Version, "COMMIT": req.To.Commit, "OUTPUT": out}
	logPath := layout.New(s.h.Config).BuildLog(s.name)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return failure(ReasonBuildFailed, fmt.Errorf("cannot create log folder: %w", err))
	}
	env := append(s.h.Config.BuildEnv(os.Environ()), "VERSION="+req.To.Version, "COMMIT="+req.To.Commit, "OUTPUT="+out)
	if err := makeBuildFolders(s.h.Config.StateDir, env); err != nil {
		return err // the host's fault, not the release's: retried
	}
	logFile, err := command.CreateLog(logPath)
	if err != nil {
		return failure(ReasonBuildFailed, fmt.Errorf("cannot create build log: %w", err))
	}
	var output io.Writer = logFile
	var lines *logLines
	if s.h.Events != nil {
		lines = newLogLines(s.h.Events, req.ID, s.name, logPath)
		output = tee{logFile, lines}
	}
	err = command.Run(ctx, command.Cmd{
		Argv:    command.Expand(s.build.Command, vars),
		Dir:     s.h.Config.InstallDir,
		Env:     env,
		Timeout: s.build.Timeout.Duration,
		Output:  output,
	})
	_ = logFile.Close() // a log that failed must not fail the build
	if lines != nil {
		lines.Close() // Run has returned: nothing more is written
	}
	if err == nil {
		_, err = os.Stat(out)
		if err != nil {
			err = fmt.Errorf("the command succeeded but wrote nothing to $(OUTPUT) %s", out)
		}
	}
	if err != nil {
		err = fmt.Errorf("cannot build %s (log %s): %w%s", req.To.Version, logPath, err, outputTail(err))
	}
	if lerr := s.restoreLiveOutputs(req, out); lerr != nil {
		if err != nil {
			lerr = fmt.Errorf("%w; and %w", lerr, err)
		}
		err = lerr
	}
	if err != nil {
		_ = os.RemoveAll(out) // a failed Do cleans up after itself
		return failure(ReasonBuildFailed, err)
	}
	return nil
}

// buildFolders are the variables of a build's environment that name a
// folder the build needs to exist.
var buildFolders = []string{"HOME", "GOCACHE", "GOMODCACHE", "npm_config_cache"}

// makeBuildFolders creates the folders env names for the build (its HOME
// and caches) that lie in the state folder, where Config.BuildEnv puts
// them by default. Folders elsewhere are the administrator's: a missing
// one is reported by preflight, not created.
func makeBuildFolders(stateDir string, env []string) error {
	for _, name := range buildFolders {
		dir := ""
		for _, kv := range env {
			if n, v, ok := strings.Cut(kv, "="); ok && n == name {
				dir = v // the last entry is the one the build sees
			}
		}
		if dir == "" || !filepath.IsAbs(dir) {
			continue
		}
		if rel, err := filepath.Rel(stateDir, dir); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			continue
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("cannot create build folder %s (%s): %w", dir, name, err)
		}
	}
	return nil
}

// restoreLiveOutputs puts back every live output the build changed, and
// says so: a build that writes what runs fails, even if it succeeded.
func (s buildStep) restoreLiveOutputs(req *Request, out string) error {
	restored, err := s.h.restoreOutputs(req)
	if err != nil {
		if len(restored) > 0 {
			err = fmt.Errorf("the build wrote the live output %s instead of $(OUTPUT) %s: %w", strings.Join(restored, " and "), out, err)
		}
		return err
	}
	var msgs []string
	for _, p := range restored {
		what := "frontend"
		if p == s.h.Config.BackendBinary() {
			what = "binary"
		}
		msgs = append(msgs, fmt.Sprintf("the build wrote the live output %s instead of $(OUTPUT) %s; the previous %s was restored from %s.bak", p, out, what, p))
	}
	if len(msgs) > 0 {
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

func (s buildStep) Undo(context.Context, *Request) error {
	if err := os.RemoveAll(s.staged()); err != nil {
		return fmt.Errorf("cannot remove %s: %w", s.staged(), err)
	}
	return nil
}

// outputTail returns the last lines a failed command printed, so the
// status message shows the compiler's complaint, not just an exit code.
func outputTail(err error) string {
	var ee *command.ExitError
	if !errors.As(err, &ee) || strings.TrimSpace(ee.Tail) == "" {
		return ""
	}
	lines := strings.Split(strings.TrimRight(ee.Tail, "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return "\n" + strings.Join(lines, "\n")
}
