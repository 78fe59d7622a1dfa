package hooks

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests do not use t.Parallel: a script written while another goroutine
// forks can fail to exec with "text file busy" (golang/go#22315).

func writeScript(t *testing.T, dir, name, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// recorder is a script that appends one line about itself to
// $BETTER_PAAS_LOG and exits with code.
func recorder(name string, code int) string {
	return `#!/bin/sh
echo "` + name + ` $BETTER_PAAS_STATE $BETTER_PAAS_ACTION v=$BETTER_PAAS_DESIRED_VERSION extra=$EXTRA pwd=$(pwd)" >> "$BETTER_PAAS_LOG"
echo "output of ` + name + `"
exit ` + strconv.Itoa(code) + "\n"
}

func readLog(t *testing.T, p string) []string {
	t.Helper()
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// names returns the first word of each log line: the script that wrote it.
func names(lines []string) []string {
	out := []string{}
	for _, l := range lines {
		out = append(out, strings.Fields(l)[0])
	}
	return out
}

func TestStateName(t *testing.T) {
	tests := map[string]string{
		"backup":          "Backup",
		"build-backend":   "BuildBackend",
		"build_frontend":  "BuildFrontend",
		"health check":    "HealthCheck",
		"restart":         "Restart",
		"fetch.v2":        "FetchV2",
		"gitCheckout":     "GitCheckout",
		"--weird--name--": "WeirdName",
		"":                "",
	}
	for in, want := range tests {
		if got := StateName(in); got != want {
			t.Errorf("StateName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEnvName(t *testing.T) {
	tests := map[string]string{
		"desiredVersion":  "BETTER_PAAS_DESIRED_VERSION",
		"DESIRED_VERSION": "BETTER_PAAS_DESIRED_VERSION",
		"data-dir":        "BETTER_PAAS_DATA_DIR",
		"log":             "BETTER_PAAS_LOG",
		"v2Tag":           "BETTER_PAAS_V2_TAG",
		"_x_":             "BETTER_PAAS_X",
		"é":               "BETTER_PAAS_",
	}
	for in, want := range tests {
		if got := EnvName(in); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDiscoverOrdersAndIgnores(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{
		"Start_Leave_00",
		"Backup_Enter_10_b",
		"Backup_Enter_10_a",
		"Backup_Enter_05",
		"BuildBackend_Error_99_page-ops",
		"Backup_Enter_10",
	} {
		writeScript(t, dir, n, "#!/bin/sh\n", 0o755)
	}
	for _, n := range []string{".hidden", "Backup_Enter_10~", "README.md", "notes.txt", "Backup_Enter_20.sample", "not a hook.txt"} {
		writeScript(t, dir, n, "x", 0o644)
	}
	if err := os.Mkdir(filepath.Join(dir, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	target := writeScript(t, filepath.Join(dir, "lib"), "notify.sh", "#!/bin/sh\n", 0o755)
	if err := os.Symlink(target, filepath.Join(dir, "Backup_Leave_50_linked")); err != nil {
		t.Fatal(err)
	}

	got, err := Discover(dir)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	var gotNames []string
	for _, s := range got {
		gotNames = append(gotNames, s.Name)
	}
	want := []string{"Start_Leave_00", "Backup_Enter_05", "Backup_Enter_10", "Backup_Enter_10_a", "Backup_Enter_10_b", "Backup_Leave_50_linked", "BuildBackend_Error_99_page-ops"}
	if !reflect.DeepEqual(gotNames, want) {
		t.Errorf("order = %v\nwant %v", gotNames, want)
	}
	wantLast := Script{Path: filepath.Join(dir, "BuildBackend_Error_99_page-ops"), State: "BuildBackend", Action: ActionError, Order: 99, Name: "BuildBackend_Error_99_page-ops"}
	if got[len(got)-1] != wantLast {
		t.Errorf("last = %+v, want %+v", got[len(got)-1], wantLast)
	}
}

func TestDiscoverRejectsBadNames(t *testing.T) {
	for _, name := range []string{
		"backup_Enter_10",        // state must be CamelCase
		"Backup_Enter_1",         // NN is two digits
		"Backup_Enter_100",       // and only two
		"Backup_Start_10",        // unknown action
		"Backup_enter_10",        // action is case-sensitive
		"Backup_Enter_10_",       // empty description
		"Backup_Enter_10-x",      // description needs the underscore
		"Build-Backend_Enter_10", // state is CamelCase, not the step name
		"notify.sh",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeScript(t, dir, name, "#!/bin/sh\n", 0o755)
			got, err := Discover(dir)
			if !errors.Is(err, ErrBadName) {
				t.Fatalf("err = %v, want ErrBadName", err)
			}
			if msg := err.Error(); !strings.Contains(msg, name) || !strings.Contains(msg, NamePattern) {
				t.Errorf("error %q should name the file and the pattern", msg)
			}
			if got != nil {
				t.Errorf("scripts = %v, want none", got)
			}
		})
	}
}

func TestDiscoverRejectsNotExecutableAndDangling(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "Backup_Enter_10", "#!/bin/sh\n", 0o755)
	p := writeScript(t, dir, "Backup_Enter_20_notify", "#!/bin/sh\n", 0o644)
	if err := os.Symlink(filepath.Join(dir, "gone"), filepath.Join(dir, "Backup_Leave_10")); err != nil {
		t.Fatal(err)
	}
	writeScript(t, dir, "Backup_Enter_3", "#!/bin/sh\n", 0o755)

	got, err := Discover(dir)
	if got != nil {
		t.Errorf("scripts = %v, want none while the folder has errors", got)
	}
	if !errors.Is(err, ErrNotExecutable) || !errors.Is(err, ErrBadName) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want all three problems", err)
	}
	msg := err.Error()
	for _, want := range []string{"chmod +x " + p, "Backup_Leave_10", "Backup_Enter_3"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
}

func TestDiscoverMissingDir(t *testing.T) {
	got, err := Discover(filepath.Join(t.TempDir(), "hooks"))
	if err != nil || got != nil {
		t.Fatalf("Discover(missing) = %v, %v; want nothing", got, err)
	}
}

func TestValidateStates(t *testing.T) {
	scripts := []Script{
		{Path: "/h/Backup_Enter_10", State: "Backup", Name: "Backup_Enter_10"},
		{Path: "/h/BuildBackend_Leave_10", State: "BuildBackend", Name: "BuildBackend_Leave_10"},
		{Path: "/h/Bakup_Enter_10", State: "Bakup", Name: "Bakup_Enter_10"},
	}
	if err := ValidateStates(scripts[:2], "backup", "build-backend"); err != nil {
		t.Errorf("known states: %v", err)
	}
	err := ValidateStates(scripts, "backup", "build-backend")
	if !errors.Is(err, ErrUnknownState) || !strings.Contains(err.Error(), "/h/Bakup_Enter_10") || !strings.Contains(err.Error(), "Backup, BuildBackend") {
		t.Errorf("err = %v, want ErrUnknownState naming the script and the valid states", err)
	}
}

// lockedBuffer is an io.Writer safe for the goroutine command uses.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestRunRunsMatchingScriptsInOrderWithEnv(t *testing.T) {
	dir, logf := t.TempDir(), filepath.Join(t.TempDir(), "log")
	for _, n := range []string{"Backup_Enter_20", "Backup_Enter_10_b", "Backup_Enter_10_a", "Backup_Leave_00", "Start_Enter_00", "BuildBackend_Enter_05"} {
		writeScript(t, dir, n, recorder(n, 0), 0o755)
	}
	out := &lockedBuffer{}
	r := Runner{Dir: dir, Timeout: 30 * time.Second, Env: []string{"EXTRA=extra-value"}, Output: out}
	env := map[string]string{"log": logf, "desiredVersion": "v1.2.3"}

	if err := r.Run(context.Background(), "backup", ActionEnter, env); err != nil {
		t.Fatalf("Run: %v", err)
	}
	lines := readLog(t, logf)
	if got, want := names(lines), []string{"Backup_Enter_10_a", "Backup_Enter_10_b", "Backup_Enter_20"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ran %v, want %v", got, want)
	}
	realDir, _ := filepath.EvalSymlinks(dir)
	if want := "Backup_Enter_10_a Backup Enter v=v1.2.3 extra=extra-value pwd=" + realDir; lines[0] != want {
		t.Errorf("script saw %q\nwant      %q", lines[0], want)
	}
	if got := out.String(); !strings.Contains(got, "output of Backup_Enter_10_a\noutput of Backup_Enter_10_b\noutput of Backup_Enter_20\n") {
		t.Errorf("Output = %q", got)
	}

	if err := r.Run(context.Background(), "build-backend", ActionEnter, env); err != nil {
		t.Fatal(err)
	}
	if got := names(readLog(t, logf)); got[len(got)-1] != "BuildBackend_Enter_05" || len(got) != 4 {
		t.Errorf("after build-backend ran %v", got)
	}
	if err := r.Run(context.Background(), "backup", ActionError, env); err != nil {
		t.Fatal(err)
	}
	if got := len(readLog(t, logf)); got != 4 {
		t.Errorf("Run with no matching scripts ran something: %d lines", got)
	}
}

func TestRunEnterStopsAtFirstFailure(t *testing.T) {
	for _, action := range []Action{ActionEnter, ActionLeave} {
		t.Run(string(action), func(t *testing.T) {
			dir, logf := t.TempDir(), filepath.Join(t.TempDir(), "log")
			writeScript(t, dir, "Backup_"+string(action)+"_10", recorder("first", 0), 0o755)
			writeScript(t, dir, "Backup_"+string(action)+"_20", "#!/bin/sh\necho second >> \"$BETTER_PAAS_LOG\"\necho 'disk almost full' >&2\nexit 3\n", 0o755)
			writeScript(t, dir, "Backup_"+string(action)+"_30", recorder("third", 0), 0o755)

			err := Runner{Dir: dir}.Run(context.Background(), "backup", action, map[string]string{"log": logf})
			var se *ScriptError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a ScriptError", err)
			}
			if se.Script != "Backup_"+string(action)+"_20" || se.Code != 3 || !strings.Contains(se.Tail, "disk almost full") {
				t.Errorf("ScriptError = %+v", se)
			}
			if errors.Is(err, ErrRetryLater) {
				t.Error("exit 3 matches ErrRetryLater")
			}
			if want := "cannot run hook Backup_" + string(action) + "_20: exit code 3"; err.Error() != want {
				t.Errorf("message = %q, want %q", err, want)
			}
			if got := names(readLog(t, logf)); !reflect.DeepEqual(got, []string{"first", "second"}) {
				t.Errorf("ran %v, want first and second only", got)
			}
		})
	}
}

func TestRunRetryLater(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "Backup_Enter_10_maintenance-window", "#!/bin/sh\necho 'users online'\nexit 21\n", 0o755)
	err := Runner{Dir: dir}.Run(context.Background(), "backup", ActionEnter, nil)
	if !errors.Is(err, ErrRetryLater) {
		t.Fatalf("err = %v, want ErrRetryLater", err)
	}
	var se *ScriptError
	if !errors.As(err, &se) || se.Code != RetryLaterCode || !strings.Contains(se.Tail, "users online") {
		t.Errorf("ScriptError = %+v", se)
	}
}

func TestRunErrorScriptsAllRun(t *testing.T) {
	dir, logf := t.TempDir(), filepath.Join(t.TempDir(), "log")
	writeScript(t, dir, "BuildBackend_Error_10", recorder("a", 3), 0o755)
	writeScript(t, dir, "BuildBackend_Error_20", recorder("b", 0), 0o755)
	writeScript(t, dir, "BuildBackend_Error_30", recorder("c", 4), 0o755)
	writeScript(t, dir, "BuildBackend_Error_40", recorder("d", 0), 0o755)

	err := Runner{Dir: dir}.Run(context.Background(), "build-backend", ActionError, map[string]string{"log": logf})
	if got := names(readLog(t, logf)); !reflect.DeepEqual(got, []string{"a", "b", "c", "d"}) {
		t.Errorf("ran %v, want all four", got)
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("err = %v, want errors joined", err)
	}
	var codes []int
	for _, e := range joined.Unwrap() {
		var se *ScriptError
		if errors.As(e, &se) {
			codes = append(codes, se.Code)
		}
	}
	if !reflect.DeepEqual(codes, []int{3, 4}) {
		t.Errorf("codes = %v, want [3 4] (err %v)", codes, err)
	}
}

// alive reports whether pid is running (a zombie has released everything
// and only waits to be reaped, so it does not count).
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(data, ')')
	return i < 0 || len(data) < i+3 || (data[i+2] != 'Z' && data[i+2] != 'X')
}

func readPID(t *testing.T, p string) int {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("script did not record its child: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestRunTimeoutKillsScriptAndGrandchild(t *testing.T) {
	dir, pidf := t.TempDir(), filepath.Join(t.TempDir(), "pid")
	writeScript(t, dir, "Backup_Enter_10", "#!/bin/sh\nsleep 120 &\necho $! > \"$BETTER_PAAS_PIDFILE\"\nwait\n", 0o755)
	writeScript(t, dir, "Backup_Enter_20", "#!/bin/sh\ntouch \"$BETTER_PAAS_PIDFILE.second\"\n", 0o755)

	start := time.Now()
	err := Runner{Dir: dir, Timeout: time.Second}.Run(context.Background(), "backup", ActionEnter, map[string]string{"pidfile": pidf})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if !strings.Contains(err.Error(), "Backup_Enter_10") {
		t.Errorf("error %q does not name the script", err)
	}
	if elapsed := time.Since(start); elapsed > 30*time.Second {
		t.Errorf("Run took %v with a 1s timeout", elapsed)
	}
	if pid := readPID(t, pidf); alive(pid) {
		t.Errorf("grandchild %d still running after timeout", pid)
	}
	if _, err := os.Stat(pidf + ".second"); !errors.Is(err, os.ErrNotExist) {
		t.Error("the script after a timed-out Enter script ran")
	}
}

func TestRunBackgroundChildHoldingOutputDoesNotHang(t *testing.T) {
	dir, pidf := t.TempDir(), filepath.Join(t.TempDir(), "pid")
	writeScript(t, dir, "Backup_Leave_10", "#!/bin/sh\nsleep 120 &\necho $! > \"$BETTER_PAAS_PIDFILE\"\necho done\n", 0o755)
	out := &lockedBuffer{}

	start := time.Now()
	err := Runner{Dir: dir, Output: out}.Run(context.Background(), "backup", ActionLeave, map[string]string{"pidfile": pidf})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if elapsed := time.Since(start); elapsed > 60*time.Second {
		t.Errorf("Run waited %v for a background child", elapsed)
	}
	if out.String() != "done\n" {
		t.Errorf("Output = %q", out.String())
	}
	if pid := readPID(t, pidf); alive(pid) {
		t.Errorf("background child %d left running", pid)
	}
}

func TestRunMissingDirRunsNothing(t *testing.T) {
	for _, dir := range []string{filepath.Join(t.TempDir(), "hooks"), ""} {
		if err := (Runner{Dir: dir}).Run(context.Background(), "backup", ActionEnter, nil); err != nil {
			t.Errorf("Run(%q) = %v, want nil", dir, err)
		}
	}
}

func TestRunStopsOnDiscoveryError(t *testing.T) {
	dir, logf := t.TempDir(), filepath.Join(t.TempDir(), "log")
	writeScript(t, dir, "Backup_Enter_10", recorder("ok", 0), 0o755)
	writeScript(t, dir, "Backup_Entre_20", recorder("typo", 0), 0o755)
	err := Runner{Dir: dir}.Run(context.Background(), "backup", ActionEnter, map[string]string{"log": logf})
	if !errors.Is(err, ErrBadName) {
		t.Fatalf("err = %v, want ErrBadName", err)
	}
	if got := readLog(t, logf); got != nil {
		t.Errorf("ran %v despite a broken hooks folder", got)
	}
}

func TestRunCancelledContextRunsNothing(t *testing.T) {
	for _, action := range []Action{ActionEnter, ActionError} {
		dir, logf := t.TempDir(), filepath.Join(t.TempDir(), "log")
		writeScript(t, dir, "Backup_"+string(action)+"_10", recorder("x", 0), 0o755)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := Runner{Dir: dir}.Run(ctx, "backup", action, map[string]string{"log": logf})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: err = %v, want context.Canceled", action, err)
		}
		if got := readLog(t, logf); got != nil {
			t.Errorf("%s: ran %v with a cancelled context", action, got)
		}
	}
}

func TestRunRejectsInvalidEnv(t *testing.T) {
	dir, logf := t.TempDir(), filepath.Join(t.TempDir(), "log")
	writeScript(t, dir, "Backup_Enter_10", recorder("x", 0), 0o755)
	for name, env := range map[string]map[string]string{
		"reserved":  {"state": "x"},
		"no letter": {"--": "x"},
		"clash":     {"fromVersion": "a", "FROM_VERSION": "b"},
		"nul":       {"note": "a\x00b"},
	} {
		env["log"] = logf
		if err := (Runner{Dir: dir}).Run(context.Background(), "backup", ActionEnter, env); !errors.Is(err, ErrInvalidEnv) {
			t.Errorf("%s: err = %v, want ErrInvalidEnv", name, err)
		}
	}
	if got := readLog(t, logf); got != nil {
		t.Errorf("ran %v with an invalid environment", got)
	}
}

// TestDiscoverRefusesUnsafeScripts: each kind of script the updater must
// not run is refused by Discover (so the daemon does not start and a step
// runs no hook) and listed by Scan with the reason and the fix.
func TestDiscoverRefusesUnsafeScripts(t *testing.T) {
	outside := writeScript(t, t.TempDir(), "notify.sh", "#!/bin/sh\n", 0o755)
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the hook's path
		want  error
		fix   string
	}{
		{"group-writable", func(t *testing.T, dir string) string {
			return writeScript(t, dir, "Backup_Enter_10", "#!/bin/sh\n", 0o775)
		}, ErrUnsafeMode, "chmod go-w"},
		{"world-writable", func(t *testing.T, dir string) string {
			return writeScript(t, dir, "Backup_Enter_10", "#!/bin/sh\n", 0o757)
		}, ErrUnsafeMode, "chmod go-w"},
		{"owned by another user", func(t *testing.T, dir string) string {
			p := writeScript(t, dir, "Backup_Enter_10", "#!/bin/sh\n", 0o755)
			if os.Geteuid() != 0 {
				t.Skip("chown needs root")
			}
			if err := os.Chown(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return p
		}, ErrUnsafeOwner, "chown root"},
		{"symlink out of the folder", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "Backup_Enter_10")
			if err := os.Symlink(outside, p); err != nil {
				t.Fatal(err)
			}
			return p
		}, ErrOutsideFolder, "copy the script into the folder"},
		{"relative symlink out through lib", func(t *testing.T, dir string) string {
			if err := os.Mkdir(filepath.Join(dir, "lib"), 0o755); err != nil {
				t.Fatal(err)
			}
			// lib/out -> outside, then the hook -> lib/out: the chain leaves.
			if err := os.Symlink(outside, filepath.Join(dir, "lib", "out")); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "Backup_Enter_10")
			if err := os.Symlink("lib/out", p); err != nil {
				t.Fatal(err)
			}
			return p
		}, ErrOutsideFolder, "copy the script into the folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, logf := t.TempDir(), filepath.Join(t.TempDir(), "log")
			writeScript(t, dir, "Backup_Enter_05_fine", recorder("fine", 0), 0o755)
			p := tt.setup(t, dir)

			got, err := Discover(dir)
			if !errors.Is(err, tt.want) || got != nil {
				t.Fatalf("Discover = %v, %v; want no scripts and %v", got, err, tt.want)
			}
			if msg := err.Error(); !strings.Contains(msg, p) || !strings.Contains(msg, tt.fix) {
				t.Errorf("error %q should name %s and the fix %q", msg, p, tt.fix)
			}
			entries, err := Scan(dir)
			if err != nil || len(entries) != 2 {
				t.Fatalf("Scan = %+v, %v; want two entries", entries, err)
			}
			if entries[0].Name != "Backup_Enter_05_fine" || entries[0].Refused != nil {
				t.Errorf("first entry %+v, want the fine script, not refused", entries[0])
			}
			if e := entries[1]; e.Name != "Backup_Enter_10" || !errors.Is(e.Refused, tt.want) || e.State != "Backup" || e.Action != ActionEnter || e.Order != 10 {
				t.Errorf("second entry %+v, want Backup_Enter_10 refused with %v", e, tt.want)
			}
			// A refused script stops every hook of the folder from running.
			err = Runner{Dir: dir}.Run(context.Background(), "backup", ActionEnter, map[string]string{"log": logf})
			if !errors.Is(err, tt.want) {
				t.Errorf("Run = %v, want %v", err, tt.want)
			}
			if lines := readLog(t, logf); lines != nil {
				t.Errorf("ran %v although the folder holds a refused script", lines)
			}
		})
	}
}

// TestScanAcceptsALinkInsideTheFolder: a symlink to a file inside the
// folder, also through a hooks folder that is itself a symlink, runs.
func TestScanAcceptsALinkInsideTheFolder(t *testing.T) {
	realDir := t.TempDir()
	target := writeScript(t, realDir, "shared.sh", "#!/bin/sh\n", 0o755)
	if err := os.Rename(target, filepath.Join(realDir, "shared.sh.sample")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("shared.sh.sample", filepath.Join(realDir, "Health_Leave_10_notify")); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "hooks")
	if err := os.Symlink(realDir, dir); err != nil {
		t.Fatal(err)
	}
	entries, err := Scan(dir)
	if err != nil || len(entries) != 1 || entries[0].Refused != nil {
		t.Fatalf("Scan = %+v, %v; want the linked script, not refused", entries, err)
	}
	realPath, _ := filepath.EvalSymlinks(filepath.Join(realDir, "shared.sh.sample"))
	if entries[0].Target != realPath {
		t.Errorf("Target = %q, want %q", entries[0].Target, realPath)
	}
	if err := (Runner{Dir: dir}).Run(context.Background(), "health", ActionLeave, nil); err != nil {
		t.Errorf("Run: %v", err)
	}
}
