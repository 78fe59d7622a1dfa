package hooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/better-paas/updater/internal/command"
)

// DefaultTimeout bounds one script when Runner.Timeout is zero; it is also
// the default of updater.yaml's timeouts.hook. A hook with no bound could
// hold an update (and the service it stopped) forever.
const DefaultTimeout = 5 * time.Minute

// RetryLaterCode is the exit code by which a script says "not now, retry
// later", as in Mender.
const RetryLaterCode = 21

// EnvPrefix starts the name of every variable Run passes to scripts.
const EnvPrefix = "BETTER_PAAS_"

var (
	// ErrRetryLater is matched (errors.Is) by Run's error when a script
	// exited with RetryLaterCode: the script asks the updater to hold the
	// update and try again later, which is waiting, not failing.
	ErrRetryLater = errors.New("hook asked to retry later")
	// ErrTimeout is matched by Run's error when a script ran longer than
	// its timeout (or the caller's deadline passed) and was killed with
	// its whole process group. It is the same value as command.ErrTimeout.
	ErrTimeout = command.ErrTimeout
	// ErrInvalidEnv means a key of Run's env map cannot be turned into a
	// variable name, or a value cannot be passed to a process.
	ErrInvalidEnv = errors.New("invalid hook environment")
)

// ScriptError is matched (errors.As) by Run's error when a script exited
// with a non-zero code. A ScriptError with Code RetryLaterCode also matches
// ErrRetryLater.
type ScriptError struct {
	// Script is the script's file name.
	Script string
	// Code is the exit code, or 128+N when the script was killed by
	// signal N.
	Code int
	// Tail is the last few KiB of the script's combined output, for a
	// status message that says why it failed.
	Tail string
}

// Error is short and leaves Tail out: Run's error already names the
// script, and the tail is long, multi-line and for the caller to place.
func (e *ScriptError) Error() string {
	if e.Code == RetryLaterCode {
		return fmt.Sprintf("exit code %d (retry later)", e.Code)
	}
	return fmt.Sprintf("exit code %d", e.Code)
}

// Is makes errors.Is(err, ErrRetryLater) true for exit code 21.
func (e *ScriptError) Is(target error) bool {
	return target == ErrRetryLater && e.Code == RetryLaterCode
}

// Runner runs the hook scripts of one hooks folder. The zero value runs
// nothing (its Dir is "", which has no scripts).
type Runner struct {
	// Dir is the hooks folder; it is read again on every Run. Scripts run
	// with Dir as their working folder, so they can use files kept in a
	// subfolder of it.
	Dir string
	// Timeout bounds each script separately; zero means DefaultTimeout.
	Timeout time.Duration
	// Env is added to the updater's own environment for every script,
	// before the BETTER_PAAS_ variables (which win on a clash).
	Env []string
	// Output receives the scripts' combined stdout and stderr; nil
	// discards it (the tail is still kept for ScriptError).
	Output io.Writer
}

// Run runs the scripts of dir whose State is StateName(step) and whose
// Action is action, in order. It is called by the updater around every
// step; it keeps no state, so running it again runs the scripts again.
//
// Each script gets, besides the updater's environment and r.Env:
// BETTER_PAAS_STATE (e.g. "BuildBackend"), BETTER_PAAS_ACTION ("Enter",
// "Leave" or "Error") and, for each key of env, EnvName(key)=value. Each
// script has its own timeout and process group; on timeout the whole group
// is stopped (SIGTERM, then SIGKILL). When a script exits, anything it left
// running in its group is stopped too, so a background child holding the
// output open cannot hang Run.
//
// Enter and Leave scripts stop at the first failure, which Run returns.
// Error scripts all run; their failures are joined (errors.Join) and
// returned without stopping the others. A cancelled ctx stops Run before
// the next script in every case.
//
// Errors, each naming the script: a discovery error (ErrBadName,
// ErrNotExecutable, ...); ErrInvalidEnv; ErrRetryLater (exit 21, also a
// *ScriptError); *ScriptError (other non-zero exit); ErrTimeout;
// context.Canceled; or a start failure. A missing Dir runs nothing and
// returns nil.
func (r Runner) Run(ctx context.Context, step string, action Action, env map[string]string) error {
	state := StateName(step)
	vars, err := scriptEnv(state, action, env)
	if err != nil {
		return err
	}
	all, err := Discover(r.Dir)
	if err != nil {
		return err
	}
	var scripts []Script
	for _, s := range all {
		if s.State == state && s.Action == action {
			scripts = append(scripts, s)
		}
	}
	if len(scripts) == 0 {
		return nil
	}
	dir, err := filepath.Abs(r.Dir)
	if err != nil {
		return fmt.Errorf("cannot resolve hooks folder %s: %w", r.Dir, err)
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}

	var errs []error
	for _, s := range scripts {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("cannot run hook %s: %w", s.Name, err))
			break
		}
		err := command.Run(ctx, command.Cmd{
			// An absolute path: command resolves a relative one against
			// Dir, and r.Dir itself may be relative.
			Argv:    []string{filepath.Join(dir, s.Name)},
			Dir:     dir,
			Env:     append(append([]string(nil), r.Env...), vars...),
			Timeout: timeout,
			Output:  r.Output,
		})
		if err == nil {
			continue
		}
		var ee *command.ExitError
		if errors.As(err, &ee) {
			err = &ScriptError{Script: s.Name, Code: ee.Code, Tail: ee.Tail}
		}
		err = fmt.Errorf("cannot run hook %s: %w", s.Name, err)
		if action != ActionError {
			return err
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Check reports what would stop r's scripts from running, without running
// any: Discover's refusals (a bad name, a script not executable, writable
// by group or others, owned by another user, a symlink out of Dir) and,
// when steps are given, ValidateStates' unknown states. The updater calls
// it before it starts an update, so a refused hook stops the update before
// any step rather than failing one halfway.
func (r Runner) Check(steps ...string) error {
	scripts, err := Discover(r.Dir)
	if err != nil || len(steps) == 0 {
		return err
	}
	return ValidateStates(scripts, steps...)
}

// scriptEnv builds the BETTER_PAAS_ variables of one run, sorted by name
// so scripts see the same environment every time.
func scriptEnv(state string, action Action, env map[string]string) ([]string, error) {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	vars := make([]string, 0, len(env)+2)
	seen := map[string]string{"BETTER_PAAS_STATE": "", "BETTER_PAAS_ACTION": ""}
	for _, k := range keys {
		name := EnvName(k)
		if name == EnvPrefix {
			return nil, fmt.Errorf("cannot pass hook variable %q: %w: name has no letters or digits", k, ErrInvalidEnv)
		}
		if other, dup := seen[name]; dup {
			if other == "" {
				return nil, fmt.Errorf("cannot pass hook variable %q: %w: %s is reserved", k, ErrInvalidEnv, name)
			}
			return nil, fmt.Errorf("cannot pass hook variable %q: %w: %q also becomes %s", k, ErrInvalidEnv, other, name)
		}
		seen[name] = k
		if strings.ContainsRune(env[k], 0) {
			return nil, fmt.Errorf("cannot pass hook variable %s: %w: value contains a NUL byte", name, ErrInvalidEnv)
		}
		vars = append(vars, name+"="+env[k])
	}
	return append(vars, "BETTER_PAAS_STATE="+state, "BETTER_PAAS_ACTION="+string(action)), nil
}

// EnvName returns the variable name under which Run passes the env key
// key: EnvPrefix followed by key in upper snake case. camelCase words are
// split, any character other than an ASCII letter or digit becomes '_', and
// leading or trailing '_' are dropped ("desiredVersion" ->
// "BETTER_PAAS_DESIRED_VERSION", "data-dir" -> "BETTER_PAAS_DATA_DIR",
// "APP_DIR" -> "BETTER_PAAS_APP_DIR"). Shells cannot read names with other
// characters, and scripts are usually shell scripts.
func EnvName(key string) string {
	var b strings.Builder
	var prev rune
	for _, r := range key {
		if r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			if unicode.IsUpper(r) && (unicode.IsLower(prev) || unicode.IsDigit(prev)) {
				b.WriteByte('_')
			}
			b.WriteRune(unicode.ToUpper(r))
		} else {
			r = '_'
			b.WriteByte('_')
		}
		prev = r
	}
	return EnvPrefix + strings.Trim(b.String(), "_")
}
