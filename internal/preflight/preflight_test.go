package preflight

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/better-paas/updater/internal/backup"
	"github.com/better-paas/updater/internal/bytesize"
)

// install builds a small install in a temporary folder: a data folder of
// dataBytes bytes in two files, an executable build script and a
// non-executable one, and returns an Input that passes every check.
func install(t *testing.T, dataBytes int) Input {
	t.Helper()
	root := t.TempDir()
	inst := filepath.Join(root, "app")
	data := filepath.Join(inst, "data")
	writeFile(t, filepath.Join(data, "app.db"), dataBytes/2, 0o644)
	writeFile(t, filepath.Join(data, "uploads", "a.png"), dataBytes-dataBytes/2, 0o644)
	writeFile(t, filepath.Join(inst, "scripts", "build.sh"), 10, 0o755)
	writeFile(t, filepath.Join(inst, "scripts", "notexec.sh"), 10, 0o644)
	return Input{
		DataDir:      data,
		BackupDir:    filepath.Join(root, "state", "backups"), // not created yet
		InstallDir:   inst,
		BuildOutputs: []string{"frontend/dist", filepath.Join(inst, "server.new")},
		Commands:     [][]string{{"sh", "-c", "true"}, {"./scripts/build.sh", "$(OUTPUT)"}, {"/bin/sh"}},
		Remote:       "origin",
		// The checkout's URL carries a token, the config does not: the
		// same repository.
		WantRemoteURL: "https://github.com/acme/app",
		RemoteURL:     remotes(map[string]string{"origin": "https://s3cret@github.com/acme/app.git"}),
		ExtraBytes:    1 << 20,
	}
}

var errNoRemote = errors.New("remote not found")

func remotes(m map[string]string) func(string) (string, error) {
	return func(name string) (string, error) {
		u, ok := m[name]
		if !ok {
			return "", fmt.Errorf("cannot read remote %q: %w", name, errNoRemote)
		}
		return u, nil
	}
}

func writeFile(t *testing.T, path string, size int, perm fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Repeat("x", size)), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // not subject to umask
		t.Fatal(err)
	}
}

// listTree returns every path under root, to prove the checks wrote nothing.
func listTree(t *testing.T, root string) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		paths = append(paths, fmt.Sprintf("%s %v %d", p, info.Mode(), info.Size()))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

func TestRunPassesOnHealthyInstall(t *testing.T) {
	in := install(t, 3000)
	root := filepath.Dir(in.InstallDir)
	before := listTree(t, root)

	if err := Run(context.Background(), in); err != nil {
		t.Fatalf("Run: %v", err)
	}
	checks := Checks(context.Background(), in)
	var names []string
	for _, c := range checks {
		if c.Err != nil {
			t.Errorf("check %q failed: %v", c.Name, c.Err)
		}
		names = append(names, c.Name)
	}
	want := []string{
		"free space on " + mountOf(t, root), // everything is on one filesystem
		"build command sh", "build command ./scripts/build.sh", "build command /bin/sh",
		"remote origin",
	}
	if !slices.Equal(names, want) {
		t.Errorf("checks\n got %q\nwant %q", names, want)
	}
	if after := listTree(t, root); !slices.Equal(before, after) {
		t.Errorf("the checks changed the tree\nbefore %q\nafter  %q", before, after)
	}
}

func mountOf(t *testing.T, p string) string {
	t.Helper()
	f, err := probeFilesystem(p)
	if err != nil {
		t.Fatal(err)
	}
	return f.mount
}

func TestSpaceErrorWhenNeedExceedsAnyDisk(t *testing.T) {
	in := install(t, 3000)
	in.ExtraBytes = 1 << 62
	err := Run(context.Background(), in)
	if !errors.Is(err, ErrInsufficientSpace) {
		t.Fatalf("Run = %v, want ErrInsufficientSpace", err)
	}
	var se *SpaceError
	if !errors.As(err, &se) {
		t.Fatalf("no *SpaceError in %v", err)
	}
	// Backup folder and checkout share the temporary filesystem, so their
	// needs add up; the build outputs on it do not add the headroom again.
	if want := 1<<62 + backupBytes(t, in.DataDir); se.Need != want {
		t.Errorf("Need = %d, want %d", se.Need, want)
	}
	if se.Have == 0 || se.Have >= se.Need {
		t.Errorf("Have = %d, want the free space of the temporary folder", se.Have)
	}
	wantFor := []string{
		"the backup of " + in.DataDir + " to " + in.BackupDir,
		"the build in " + in.InstallDir,
	}
	if !slices.Equal(se.For, wantFor) {
		t.Errorf("For = %q, want %q", se.For, wantFor)
	}
	mount := mountOf(t, in.InstallDir)
	if se.Mount != mount || se.Path != in.BackupDir {
		t.Errorf("Mount, Path = %q, %q; want %q, %q", se.Mount, se.Path, mount, in.BackupDir)
	}
	want := fmt.Sprintf("not enough free space on %s for the backup of %s to %s and the build in %s (need 4 EiB, have %s; free up %s)",
		mount, in.DataDir, in.BackupDir, in.InstallDir, bytesize.Format(se.Have), bytesize.Format(se.Need-se.Have))
	if err.Error() != want {
		t.Errorf("message\n got %q\nwant %q", err.Error(), want)
	}
}

// backupBytes is what the backup of data needs when no backup was taken
// yet (a full copy, margins included; see BackupNeed).
func backupBytes(t *testing.T, data string) uint64 {
	t.Helper()
	est, err := backup.EstimateCreate(context.Background(), data, filepath.Join(t.TempDir(), "no-backups"))
	if err != nil {
		t.Fatal(err)
	}
	return BackupNeed(est)
}

func TestBackupNeed(t *testing.T) {
	// 600 bytes in one file: a 4 KiB block, an eighth of it, the data
	// folder's block, two manifest entries.
	if got, want := BackupNeed(backup.Estimate{CopyFiles: 1, CopyBytes: 4096, Dirs: 1, Entries: 2}), uint64(4096+512+4096+2*512); got != want {
		t.Errorf("BackupNeed = %d, want %d", got, want)
	}
	if got := BackupNeed(backup.Estimate{CopyBytes: math.MaxInt64, Dirs: math.MaxInt, Entries: math.MaxInt}); got != math.MaxUint64 {
		t.Errorf("BackupNeed of huge estimates = %d, want it to saturate", got)
	}
}

func TestSpaceNeedsAddUpPerFilesystem(t *testing.T) {
	// Real data (600 bytes, which the backup needs bk for) on fake
	// filesystems, so the arithmetic is exact whatever the host's disks
	// hold.
	data := t.TempDir()
	writeFile(t, filepath.Join(data, "db"), 600, 0o644)
	bk := backupBytes(t, data)
	const extra = 500
	tests := []struct {
		name   string
		mounts map[string]string // folder -> fake mount
		avail  map[string]uint64 // mount -> bytes available
		want   map[string]uint64 // mount -> Need of its SpaceError; absent: passes
		for_   map[string][]string
	}{
		{
			name:   "one filesystem, needs add up",
			mounts: map[string]string{"/b": "/", "/i": "/", "/i/out": "/"},
			avail:  map[string]uint64{"/": bk + extra - 1},
			want:   map[string]uint64{"/": bk + extra},
			for_:   map[string][]string{"/": {"the backup of " + data + " to /b", "the build in /i"}},
		},
		{
			name:   "one filesystem, just enough; outputs do not repeat the headroom",
			mounts: map[string]string{"/b": "/", "/i": "/", "/i/out": "/"},
			avail:  map[string]uint64{"/": bk + extra},
		},
		{
			name:   "separate filesystems do not add up",
			mounts: map[string]string{"/b": "/backup", "/i": "/", "/i/out": "/"},
			avail:  map[string]uint64{"/backup": bk, "/": 500},
		},
		{
			name:   "backup filesystem short",
			mounts: map[string]string{"/b": "/backup", "/i": "/", "/i/out": "/"},
			avail:  map[string]uint64{"/backup": bk - 1, "/": 1 << 40},
			want:   map[string]uint64{"/backup": bk},
			for_:   map[string][]string{"/backup": {"the backup of " + data + " to /b"}},
		},
		{
			name:   "an output on its own filesystem needs the headroom there too",
			mounts: map[string]string{"/b": "/", "/i": "/", "/i/out": "/fast"},
			avail:  map[string]uint64{"/": 1 << 40, "/fast": 499},
			want:   map[string]uint64{"/fast": extra},
			for_:   map[string][]string{"/fast": {"the build in /i/out"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			devs := map[string]uint64{}
			probe := func(dir string) (filesystem, error) {
				m, ok := tt.mounts[dir]
				if !ok {
					return filesystem{}, fmt.Errorf("unexpected folder %s", dir)
				}
				if _, ok := devs[m]; !ok {
					devs[m] = uint64(len(devs) + 1)
				}
				return filesystem{dev: devs[m], mount: m, avail: tt.avail[m]}, nil
			}
			in := Input{DataDir: data, BackupDir: "/b", InstallDir: "/i", BuildOutputs: []string{"out"}, ExtraBytes: extra}
			checks := spaceChecks(context.Background(), in, probe)
			if len(checks) != len(tt.avail) {
				t.Errorf("%d checks, want one per filesystem (%d): %+v", len(checks), len(tt.avail), checks)
			}
			for _, c := range checks {
				mount := strings.TrimPrefix(c.Name, "free space on ")
				need, shouldFail := tt.want[mount]
				var se *SpaceError
				switch {
				case !shouldFail && c.Err != nil:
					t.Errorf("%s: unexpected %v", c.Name, c.Err)
				case shouldFail && !errors.As(c.Err, &se):
					t.Errorf("%s: got %v, want a SpaceError", c.Name, c.Err)
				case shouldFail:
					if se.Need != need || se.Have != tt.avail[mount] || !slices.Equal(se.For, tt.for_[mount]) {
						t.Errorf("%s: got need %d have %d for %q; want need %d have %d for %q",
							c.Name, se.Need, se.Have, se.For, need, tt.avail[mount], tt.for_[mount])
					}
				}
			}
		})
	}
}

func TestMissingDataNeedsNoSpace(t *testing.T) {
	probe := func(string) (filesystem, error) { return filesystem{dev: 1, mount: "/", avail: 0}, nil }
	in := Input{DataDir: filepath.Join(t.TempDir(), "no-data-yet"), BackupDir: "/b"}
	checks := spaceChecks(context.Background(), in, probe)
	if len(checks) != 1 || checks[0].Err != nil {
		t.Errorf("checks = %+v, want one passing check", checks)
	}
}

// asNobody runs the test named name again as uid 65534 when this process
// is root (CI is), because root reads folders without permission; it
// reports whether it did, in which case the caller returns.
func asNobody(t *testing.T, name string) bool {
	t.Helper()
	if os.Geteuid() != 0 {
		return false
	}
	// nobody must reach a copy of this test binary: let it through the
	// folders on the way.
	dir, err := os.MkdirTemp("", "preflight-nobody")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "preflight.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^"+name+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), "TMPDIR=/tmp")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(err.Error(), "operation not permitted") {
		t.Skipf("root reads folders without permission, and cannot run a process as uid 65534 here: %v", err)
	}
	if err != nil || !strings.Contains(string(out), "PASS") || strings.Contains(string(out), "SKIP") {
		t.Fatalf("%s as uid 65534: %v\n%s", name, err, out)
	}
	return true
}

func TestUnmeasurableDataFails(t *testing.T) {
	if asNobody(t, "TestUnmeasurableDataFails") {
		return
	}
	data := t.TempDir()
	locked := filepath.Join(data, "locked")
	if err := os.Mkdir(locked, 0o000); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(locked, 0o755) })
	err := Run(context.Background(), Input{DataDir: data, BackupDir: t.TempDir()})
	if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "cannot estimate the size of the backup of "+data) {
		t.Errorf("Run = %v, want a permission error naming the data folder", err)
	}
}

func TestCommandChecks(t *testing.T) {
	in := install(t, 0)
	tool := t.TempDir()
	writeFile(t, filepath.Join(tool, "mytool"), 10, 0o755)
	writeFile(t, filepath.Join(tool, "noexec"), 10, 0o644)
	t.Setenv("PATH", tool)
	abs := func(rel string) string { return filepath.Join(in.InstallDir, rel) }

	tests := []struct {
		argv    []string
		wantErr error
		want    []string // substrings of the message
	}{
		{[]string{"mytool", "build"}, nil, nil},
		{[]string{"./scripts/build.sh"}, nil, nil},
		{[]string{"scripts/build.sh"}, nil, nil},
		{[]string{filepath.Join(tool, "mytool")}, nil, nil},
		{[]string{"no-such-tool-4711", "--flag"}, ErrCommandNotFound,
			[]string{`cannot find build command "no-such-tool-4711" in PATH (` + tool + ")", "install it or fix updater.yaml's build command"}},
		{[]string{"noexec"}, ErrCommandNotFound, []string{`"noexec"`, "install it or fix updater.yaml's build command"}},
		{[]string{"./scripts/notexec.sh"}, ErrCommandNotExecutable,
			[]string{"build command ./scripts/notexec.sh (" + abs("scripts/notexec.sh") + ")", "chmod +x it or fix updater.yaml's build command"}},
		{[]string{"./scripts/missing.sh"}, ErrCommandNotFound,
			[]string{"./scripts/missing.sh (" + abs("scripts/missing.sh") + ")", "install it or fix updater.yaml's build command"}},
		{[]string{"./scripts"}, ErrCommandNotExecutable, []string{"it is a folder"}},
		{[]string{}, ErrCommandNotFound, []string{"build command #1: it is empty"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.argv, " "), func(t *testing.T) {
			c := in
			c.Commands = [][]string{tt.argv}
			checks := commandChecks(context.Background(), c)
			if len(checks) != 1 {
				t.Fatalf("%d checks, want 1", len(checks))
			}
			err := checks[0].Err
			if tt.wantErr == nil {
				if err != nil {
					t.Errorf("unexpected %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestCommandFoundOnlyThroughRelativePATH(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "mytool"), 10, 0o755)
	t.Chdir(dir)
	t.Setenv("PATH", ".")
	err := checkProgram("mytool", "/nonexistent")
	if !errors.Is(err, ErrCommandNotFound) || !strings.Contains(err.Error(), "relative to the current folder") {
		t.Errorf("got %v, want ErrCommandNotFound about a relative PATH entry", err)
	}
}

func TestRemoteCheck(t *testing.T) {
	tests := []struct {
		name      string
		remote    string
		want      string
		urls      map[string]string
		noFunc    bool
		wantErr   error
		contains  []string
		notSecret bool
	}{
		{name: "match", remote: "origin", want: "https://github.com/acme/app.git",
			urls: map[string]string{"origin": "https://github.com/acme/app.git"}},
		{name: "match ignoring token, .git and slash", remote: "origin", want: "https://github.com/acme/app/",
			urls: map[string]string{"origin": "https://ghp_s3cret@github.com/acme/app.git"}},
		{name: "exists, no url wanted", remote: "upstream",
			urls: map[string]string{"upstream": "git@github.com:acme/app.git"}},
		{name: "mismatch", remote: "origin", want: "https://github.com/acme/app",
			urls:    map[string]string{"origin": "https://ghp_s3cret@github.com/evil/app.git"},
			wantErr: ErrRemoteMismatch, notSecret: true,
			contains: []string{`remote "origin"`, "points to https://xxxxx@github.com/evil/app.git, want https://github.com/acme/app",
				"remote set-url origin https://github.com/acme/app"}},
		{name: "scp-like mismatch", remote: "origin", want: "git@github.com:acme/app.git",
			urls:    map[string]string{"origin": "git@github.com:acme/fork.git"},
			wantErr: ErrRemoteMismatch, contains: []string{"points to git@github.com:acme/fork.git"}},
		{name: "missing remote", remote: "origin", want: "https://user:pw@example.com/app.git",
			urls: map[string]string{}, wantErr: errNoRemote, notSecret: true,
			contains: []string{"remote add origin https://xxxxx@example.com/app.git"}},
		{name: "no function", remote: "origin", noFunc: true, contains: []string{"no RemoteURL function"}},
		{name: "url without remote name", want: "https://github.com/acme/app", contains: []string{"no remote name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{InstallDir: "/srv/app", Remote: tt.remote, WantRemoteURL: tt.want}
			if !tt.noFunc {
				in.RemoteURL = remotes(tt.urls)
			}
			c, ok := remoteCheck(in)
			if !ok {
				t.Fatal("remote not checked")
			}
			if len(tt.contains) == 0 {
				if c.Err != nil {
					t.Errorf("unexpected %v", c.Err)
				}
				return
			}
			if c.Err == nil {
				t.Fatal("check passed, want an error")
			}
			if tt.wantErr != nil && !errors.Is(c.Err, tt.wantErr) {
				t.Errorf("got %v, want %v", c.Err, tt.wantErr)
			}
			for _, w := range tt.contains {
				if !strings.Contains(c.Err.Error(), w) {
					t.Errorf("message %q lacks %q", c.Err, w)
				}
			}
			if tt.notSecret && (strings.Contains(c.Err.Error(), "s3cret") || strings.Contains(c.Err.Error(), ":pw@")) {
				t.Errorf("message leaks a credential: %q", c.Err)
			}
		})
	}
	if _, ok := remoteCheck(Input{}); ok {
		t.Error("remote checked without a remote or url")
	}
}

func TestRunReportsEveryFailure(t *testing.T) {
	in := install(t, 100)
	in.ExtraBytes = 1 << 62
	in.Commands = [][]string{{"no-such-tool-4711"}, {"./scripts/notexec.sh"}, {"sh"}}
	in.WantRemoteURL = "https://github.com/acme/other"
	err := Run(context.Background(), in)
	for _, want := range []error{ErrInsufficientSpace, ErrCommandNotFound, ErrCommandNotExecutable, ErrRemoteMismatch} {
		if !errors.Is(err, want) {
			t.Errorf("Run error lacks %v: %v", want, err)
		}
	}
	var failed int
	for _, c := range Checks(context.Background(), in) {
		if c.Err != nil {
			failed++
		}
	}
	if lines := strings.Count(err.Error(), "\n") + 1; failed != 4 || lines != 4 {
		t.Errorf("%d failed checks and %d message lines, want 4 each:\n%v", failed, lines, err)
	}
}

func TestRunHonoursCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Run(ctx, install(t, 100))
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "cannot run preflight checks: ") {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
}

func TestNegativeExtraBytes(t *testing.T) {
	err := Run(context.Background(), Input{ExtraBytes: -1})
	if err == nil || !strings.Contains(err.Error(), "ExtraBytes is negative") {
		t.Errorf("Run = %v, want an input error", err)
	}
}

func TestDirSize(t *testing.T) {
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "big"), 1<<20, 0o644)
	writeFile(t, filepath.Join(outside, "dir", "big2"), 1<<20, 0o644)

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a"), 10, 0o644)
	writeFile(t, filepath.Join(dir, "empty"), 0, 0o644)
	writeFile(t, filepath.Join(dir, "sub", "b"), 200, 0o600)
	writeFile(t, filepath.Join(dir, "sub", "deeper", "c"), 3000, 0o644)
	if err := os.MkdirAll(filepath.Join(dir, "emptydir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"link-to-file":       filepath.Join(outside, "big"),
		"sub/link-to-dir":    filepath.Join(outside, "dir"),
		"dangling":           filepath.Join(outside, "gone"),
		"sub/relative-to-a":  "../a",
		"sub/deeper/to-root": "../..",
	} {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	const want = 10 + 200 + 3000

	got, err := DirSize(context.Background(), dir)
	if err != nil || got != want {
		t.Errorf("DirSize = %d, %v; want %d", got, err, want)
	}

	// A data folder that is itself a symlink (to a volume) is measured.
	link := filepath.Join(t.TempDir(), "data")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	if got, err := DirSize(context.Background(), link); err != nil || got != want {
		t.Errorf("DirSize(symlink to folder) = %d, %v; want %d", got, err, want)
	}

	if _, err := DirSize(context.Background(), filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("DirSize(missing) error = %v, want fs.ErrNotExist", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := DirSize(ctx, dir); !errors.Is(err, context.Canceled) {
		t.Errorf("DirSize(cancelled) error = %v, want context.Canceled", err)
	}
}

func TestSpaceErrorMessage(t *testing.T) {
	err := error(&SpaceError{
		Path: "/var/backups", Mount: "/var",
		For:  []string{"the backup of /srv/app/data to /var/backups"},
		Need: 1200 << 20, Have: 300 << 20,
	})
	want := "not enough free space on /var for the backup of /srv/app/data to /var/backups (need 1.2 GiB, have 300 MiB; free up 900 MiB)"
	if err.Error() != want {
		t.Errorf("got  %q\nwant %q", err.Error(), want)
	}
	if !errors.Is(err, ErrInsufficientSpace) {
		t.Error("SpaceError does not wrap ErrInsufficientSpace")
	}
}

func TestProbeFilesystem(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "not", "yet")
	got, err := probeFilesystem(missing)
	if err != nil {
		t.Fatal(err)
	}
	var st, mst unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	if got.dev != uint64(st.Dev) {
		t.Errorf("dev of a missing folder = %d, want its parent's %d", got.dev, st.Dev)
	}
	// The mount point is on the same device and is the topmost folder
	// that is.
	if err := unix.Stat(got.mount, &mst); err != nil || uint64(mst.Dev) != got.dev {
		t.Errorf("mount %s is not on device %d (%v)", got.mount, got.dev, err)
	}
	if !strings.HasPrefix(dir, strings.TrimSuffix(got.mount, "/")+"/") {
		t.Errorf("mount %s does not contain %s", got.mount, dir)
	}
	if got.mount != "/" {
		if err := unix.Stat(filepath.Dir(got.mount), &mst); err != nil || uint64(mst.Dev) == got.dev {
			t.Errorf("parent of mount %s is on the same device", got.mount)
		}
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err != nil {
		t.Fatal(err)
	}
	if sfs.Bavail > 0 && got.avail == 0 {
		t.Errorf("avail = 0, statfs says %d blocks available", sfs.Bavail)
	}
}
