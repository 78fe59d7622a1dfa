package reconciler

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/better-paas/updater/internal/command"
	"github.com/better-paas/updater/internal/config"
)

// buildStep runs one build command from updater.yaml. The command writes to
// $(OUTPUT), a path beside the live output ("server.new", "dist.new"), so a
// failed build leaves what runs untouched; swapStep moves it into place.
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
	vars := map[string]string{"VERSION": req.To.Version, "COMMIT": req.To.Commit, "OUTPUT": out}
	logPath := filepath.Join(s.h.Config.StateDir, "logs", s.name+".log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return failure(ReasonBuildFailed, fmt.Errorf("cannot create log folder: %w", err))
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return failure(ReasonBuildFailed, fmt.Errorf("cannot create build log: %w", err))
	}
	defer logFile.Close()
	err = command.Run(ctx, command.Cmd{
		Argv:    command.Expand(s.build.Command, vars),
		Dir:     s.h.Config.InstallDir,
		Env:     []string{"VERSION=" + req.To.Version, "COMMIT=" + req.To.Commit, "OUTPUT=" + out},
		Timeout: s.build.Timeout.Duration,
		Output:  logFile,
	})
	if err == nil {
		_, err = os.Stat(out)
		if err != nil {
			err = fmt.Errorf("the command succeeded but wrote nothing to $(OUTPUT) %s", out)
		}
	}
	if err != nil {
		_ = os.RemoveAll(out) // a failed Do cleans up after itself
		return failure(ReasonBuildFailed, fmt.Errorf("cannot build %s (log %s): %w%s", req.To.Version, logPath, err, outputTail(err)))
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
