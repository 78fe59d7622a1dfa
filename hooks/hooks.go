package hooks

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"unicode"
)

// Action says when, relative to its step, a script runs.
type Action string

const (
	// ActionEnter scripts run before the step; a failure stops the update
	// before the step starts.
	ActionEnter Action = "Enter"
	// ActionLeave scripts run after the step succeeded; a failure fails
	// the step.
	ActionLeave Action = "Leave"
	// ActionError scripts run after the step failed, for notification or
	// cleanup; their failures are reported but change nothing.
	ActionError Action = "Error"
)

// NamePattern is the file name pattern of a hook script, as shown to
// administrators in error messages.
const NamePattern = "<State>_<Enter|Leave|Error>_<NN>[_<description>]"

var (
	// ErrBadName means a file in the hooks folder does not match
	// NamePattern and is not one of the ignored kinds. It is an error,
	// not skipped, so a typo cannot silently disable a hook; the fix is to
	// rename the file (or add .sample to disable it on purpose).
	ErrBadName = errors.New("hook file name does not match " + NamePattern)
	// ErrNotExecutable means a correctly named hook file has no execute
	// permission; the fix is chmod +x.
	ErrNotExecutable = errors.New("hook file is not executable")
	// ErrUnsafeMode means a hook script (or the file its symlink points
	// to) is writable by group or others: whoever can write it could run
	// code as the updater. The fix is chmod go-w.
	ErrUnsafeMode = errors.New("hook file is writable by group or others")
	// ErrUnsafeOwner means a hook script (or the file its symlink points
	// to) is owned by neither root nor the user the updater runs as, so
	// that user could change what the updater runs. The fix is chown.
	ErrUnsafeOwner = errors.New("hook file is not owned by root or the updater's user")
	// ErrOutsideFolder means a hook is a symlink that resolves outside the
	// hooks folder, where whoever controls that place controls the hook
	// and a review of the folder does not show it. The fix is to copy the
	// script into the folder (a link to a file inside it, e.g. in lib/, is
	// fine).
	ErrOutsideFolder = errors.New("hook symlink leaves the hooks folder")
	// ErrUnknownState means a script names a state that is not one of the
	// updater's steps, so it would never run; see ValidateStates.
	ErrUnknownState = errors.New("hook names an unknown state")
)

// StateRollback is the State of the scripts that run around a rollback
// rather than a step: Rollback_Enter once the updater has decided to roll
// back (after the failed step's Error scripts; not again when a restarted
// daemon resumes the rollback), Rollback_Leave after every completed step
// was undone and the previous version is healthy again, Rollback_Error
// when an undo failed and the host stalls with RollbackFailed. Their
// failures (exit 21 included) are reported but change nothing: a
// rollback is never held or stopped by a hook. ValidateStates always
// accepts it.
const StateRollback = "Rollback"

// nameRE follows NamePattern; the description may hold anything but
// whitespace, like Mender's.
var nameRE = regexp.MustCompile(`^([A-Z][A-Za-z0-9]*)_(Enter|Leave|Error)_([0-9]{2})(?:_(\S+))?$`)

// Script is one hook script found by Discover.
type Script struct {
	// Path is the script's path: the hooks folder joined with Name.
	Path string
	// State is the CamelCase step name, e.g. "BuildBackend".
	State string
	// Action is when the script runs relative to the step.
	Action Action
	// Order is NN, 0 to 99; scripts run in ascending Order, ties by Name.
	Order int
	// Name is the file name, e.g. "Backup_Enter_10_notify".
	Name string
}

// ignored reports whether a file name is one the hooks folder may hold
// without it being a script: hidden files, editor backups, documentation
// and disabled samples.
func ignored(name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") {
		return true
	}
	for _, ext := range []string{".md", ".txt", ".sample"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// Entry is one file of the hooks folder as Scan found it: a hook script
// that may run (Refused nil) or one that is refused and why.
type Entry struct {
	// Script describes the file; State, Action and Order are zero when
	// its name does not match NamePattern.
	Script
	// Target is the resolved path when the file is a symlink, else "".
	Target string
	// Refused is nil for a script that may run, else why it may not: an
	// error naming the file and the fix, wrapping ErrBadName,
	// ErrNotExecutable, ErrUnsafeMode, ErrUnsafeOwner, ErrOutsideFolder
	// or the error that prevented inspecting it.
	Refused error
}

// Scan lists every file of dir that Discover considers, sorted like
// Discover's scripts (by Order, then Name; files with a bad name last, by
// name), each with the reason it is refused, if any. It runs nothing and
// changes nothing, for `hooks list`. A missing dir has no entries; an
// error means dir itself cannot be read.
//
// A file is refused, in this order of checks, when its name does not
// match NamePattern, it is a symlink whose target (fully resolved) is not
// inside dir (fully resolved), it cannot be inspected (a dangling
// symlink), it is not a regular file, it is not executable, it is writable
// by group or others, or it is owned by neither root nor the process's
// effective user. The mode and owner checked are the target's for a
// symlink. Files starting with '.' or ending in '~', '.md', '.txt' or
// '.sample' are not listed, and neither are subfolders.
func Scan(dir string) ([]Entry, error) {
	dirents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read hooks folder %s: %w", dir, err)
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot resolve hooks folder %s: %w", dir, err)
	}
	var entries []Entry
	for _, d := range dirents {
		name := d.Name()
		if ignored(name) {
			continue
		}
		e := Entry{Script: Script{Path: filepath.Join(dir, name), Name: name}}
		fi, err := os.Stat(e.Path)
		if err == nil && fi.IsDir() {
			continue
		}
		e.Refused = inspect(&e, realDir, d.Type()&fs.ModeSymlink != 0, fi, err)
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if (a.State == "") != (b.State == "") {
			return b.State == ""
		}
		if a.Order != b.Order {
			return a.Order < b.Order
		}
		return a.Name < b.Name
	})
	return entries, nil
}

// inspect fills in e's name fields and returns why e is refused (nil: it
// may run). link says e is a symlink; fi and statErr are os.Stat's answer.
func inspect(e *Entry, realDir string, link bool, fi fs.FileInfo, statErr error) error {
	p := e.Path
	m := nameRE.FindStringSubmatch(e.Name)
	if m == nil {
		return fmt.Errorf("cannot use hook %s: %w (e.g. Backup_Enter_10_notify); rename it, or add .sample to the name to disable it", p, ErrBadName)
	}
	e.State, e.Action = m[1], Action(m[2])
	e.Order, _ = strconv.Atoi(m[3]) // two digits, always valid
	if link {
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			return fmt.Errorf("cannot inspect hook %s: %w", p, err)
		}
		e.Target = target
		if rel, err := filepath.Rel(realDir, target); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			return fmt.Errorf("cannot use hook %s: %w %s: it points to %s; copy the script into the folder (a link to a file inside it, e.g. in lib/, is fine)", p, ErrOutsideFolder, realDir, target)
		}
	}
	if statErr != nil {
		return fmt.Errorf("cannot inspect hook %s: %w", p, statErr)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("cannot use hook %s: not a regular file", p)
	}
	what := p
	if e.Target != "" {
		what = e.Target
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("cannot use hook %s: %w (run chmod +x %s)", p, ErrNotExecutable, what)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("cannot use hook %s: %w (mode %04o), so others could change what the updater runs; run chmod go-w %s", p, ErrUnsafeMode, perm, what)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("cannot use hook %s: %w (uid %d; the updater runs as uid %d), so that user could change what the updater runs; run chown root %s", p, ErrUnsafeOwner, st.Uid, os.Geteuid(), what)
	}
	return nil
}

// Discover lists the hook scripts in dir that may run, sorted by Order and
// then Name. It is called before every hook run, so scripts added or
// removed take effect at the next step without a restart.
//
// It refuses what Scan refuses: a file whose name does not match
// NamePattern (ErrBadName, so a typo cannot silently disable a hook), one
// without execute permission (ErrNotExecutable), one writable by group or
// others (ErrUnsafeMode), one owned by neither root nor the updater's user
// (ErrUnsafeOwner), a symlink that resolves outside dir (ErrOutsideFolder;
// a symlink to a file inside dir is followed), and a dangling symlink.
// Discover reports every refused file at once (errors.Join) and then
// returns no scripts, so a broken or tampered hooks folder stops hooks
// from running rather than running some of them, and the step (or the
// daemon's start) fails with the reason. A missing dir has no scripts and
// is not an error.
func Discover(dir string) ([]Script, error) {
	entries, err := Scan(dir)
	if err != nil {
		return nil, err
	}
	var scripts []Script
	var errs []error
	for _, e := range entries {
		if e.Refused != nil {
			errs = append(errs, e.Refused)
			continue
		}
		scripts = append(scripts, e.Script)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return scripts, nil
}

// StateName turns an updater step name into the State part of a hook
// name: words separated by '-', '_', '.' or spaces are capitalised and
// joined ("build-backend" -> "BuildBackend", "backup" -> "Backup"). Letters
// after the first of each word are kept as they are.
func StateName(step string) string {
	var b strings.Builder
	upper := true
	for _, r := range step {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			upper = true
			continue
		}
		if upper {
			r = unicode.ToUpper(r)
			upper = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ValidateStates checks that every script names the State of one of steps
// or StateRollback, so a misspelt state ("Bakup_Enter_10") is reported
// instead of never running. It returns nil or an error wrapping ErrUnknownState that names
// each such script and lists the valid states. Call it at start-up and
// when the hooks folder changes, with the updater's step names.
func ValidateStates(scripts []Script, steps ...string) error {
	known := make(map[string]bool, len(steps)+1)
	states := make([]string, 0, len(steps)+1)
	for _, s := range append(append([]string(nil), steps...), StateRollback) {
		st := StateName(s)
		if !known[st] {
			known[st] = true
			states = append(states, st)
		}
	}
	var errs []error
	for _, s := range scripts {
		if !known[s.State] {
			errs = append(errs, fmt.Errorf("cannot use hook %s: %w %q (valid states: %s)", s.Path, ErrUnknownState, s.State, strings.Join(states, ", ")))
		}
	}
	return errors.Join(errs...)
}
