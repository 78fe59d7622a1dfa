package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// The identity and clock of every commit and tag the sandbox makes.
const (
	gitName  = "Better-PaaS Release Bot"
	gitEmail = "releases@better-paas.example"
)

// epoch is the date of the first commit; commit n is dated n days later.
var epoch = time.Date(2024, time.January, 1, 12, 0, 0, 0, time.UTC)

// GitError reports a git command that failed, with what git printed.
type GitError struct {
	Args   []string
	Stderr string
	Err    error // usually an *exec.ExitError
}

func (e *GitError) Error() string {
	msg := fmt.Sprintf("cannot run git %s: %v", strings.Join(e.Args, " "), e.Err)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

func (e *GitError) Unwrap() error { return e.Err }

// git runs the git CLI in dir and returns its trimmed standard output. It
// ignores the caller's GIT_* variables and global or system configuration,
// so a developer's hooks, signing or templates never leak into a fixture.
func git(ctx context.Context, dir string, extraEnv []string, args ...string) (string, error) {
	full := append([]string{
		"-c", "init.defaultBranch=main",
		"-c", "advice.detachedHead=false",
		"-c", "commit.gpgSign=false",
		"-c", "tag.gpgSign=false",
	}, args...)
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Dir = dir
	cmd.Env = append(gitEnv(), extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = ctxErr
		}
		return "", &GitError{Args: args, Stderr: strings.TrimSpace(stderr.String()), Err: err}
	}
	return strings.TrimSpace(stdout.String()), nil
}

func gitEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"GIT_CONFIG_GLOBAL="+os.DevNull,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME="+gitName,
		"GIT_AUTHOR_EMAIL="+gitEmail,
		"GIT_COMMITTER_NAME="+gitName,
		"GIT_COMMITTER_EMAIL="+gitEmail,
	)
}

// dateEnv dates the n-th commit (and its tag) of a history.
func dateEnv(n int) []string {
	date := fmt.Sprintf("@%d +0000", epoch.AddDate(0, 0, n).Unix())
	return []string{"GIT_AUTHOR_DATE=" + date, "GIT_COMMITTER_DATE=" + date}
}
