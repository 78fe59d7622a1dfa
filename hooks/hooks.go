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
	// ErrUnknownState means a script names a state that is not one of the
	// updater's steps, so it would never run; see ValidateStates.
	ErrUnknownState = errors.New("hook names an unknown state")
)

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

// Discover lists the hook scripts in dir, sorted by Order and then Name.
// It is called before every hook run, so scripts added or removed take
// effect at the next step without a restart.
//
// A missing dir has no scripts and is not an error. Files starting with
// '.' or ending in '~', '.md', '.txt' or '.sample' are ignored, and so are
// subfolders (a place for files the scripts share). Symlinks are followed.
// Every other entry must be a hook script: a file whose name does not match
// NamePattern is an error wrapping ErrBadName, and a matching file without
// execute permission one wrapping ErrNotExecutable. Discover reports every
// bad file at once (errors.Join) and then returns no scripts, so a broken
// hooks folder stops hooks from running rather than running some of them.
func Discover(dir string) ([]Script, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read hooks folder %s: %w", dir, err)
	}
	var scripts []Script
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if ignored(name) {
			continue
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("cannot inspect hook %s: %w", p, err))
			continue
		}
		if fi.IsDir() {
			continue
		}
		m := nameRE.FindStringSubmatch(name)
		if m == nil {
			errs = append(errs, fmt.Errorf("cannot use hook %s: %w (e.g. Backup_Enter_10_notify); rename it, or add .sample to the name to disable it", p, ErrBadName))
			continue
		}
		if !fi.Mode().IsRegular() {
			errs = append(errs, fmt.Errorf("cannot use hook %s: not a regular file", p))
			continue
		}
		if fi.Mode().Perm()&0o111 == 0 {
			errs = append(errs, fmt.Errorf("cannot use hook %s: %w (run chmod +x %s)", p, ErrNotExecutable, p))
			continue
		}
		order, _ := strconv.Atoi(m[3]) // two digits, always valid
		scripts = append(scripts, Script{Path: p, State: m[1], Action: Action(m[2]), Order: order, Name: name})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.Slice(scripts, func(i, j int) bool {
		if scripts[i].Order != scripts[j].Order {
			return scripts[i].Order < scripts[j].Order
		}
		return scripts[i].Name < scripts[j].Name
	})
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

// ValidateStates checks that every script names the State of one of steps,
// so a misspelt state ("Bakup_Enter_10") is reported instead of never
// running. It returns nil or an error wrapping ErrUnknownState that names
// each such script and lists the valid states. Call it at start-up and
// when the hooks folder changes, with the updater's step names.
func ValidateStates(scripts []Script, steps ...string) error {
	known := make(map[string]bool, len(steps))
	states := make([]string, 0, len(steps))
	for _, s := range steps {
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
