package updaterepo

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// env returns a Getenv that sees only the given variables.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// storeIn writes a stored value through Store, as "repo set" would.
func storeIn(t *testing.T, file, repo string) {
	t.Helper()
	r, err := Parse(repo)
	if err != nil {
		t.Fatal(err)
	}
	if err := (Resolver{StoreFile: file}).Store(r); err != nil {
		t.Fatal(err)
	}
}

func TestResolveOrder(t *testing.T) {
	errNoOrigin := errors.New("remote not found")
	tests := []struct {
		name       string
		env        map[string]string // nil: UPDATE_REPO unset
		stored     string            // "" none; otherwise written with Store
		storedRaw  string            // written verbatim when set
		remote     string
		remoteErr  error
		noRemote   bool // RemoteURL is nil
		want       string
		wantOrigin Origin
		wantErr    []error
		errHas     []string
		errHasNot  []string
	}{
		{
			name: "env wins over stored and remote", env: map[string]string{EnvVar: "env-org/app"},
			stored: "stored-org/app", remote: "https://github.com/remote-org/app.git",
			want: "env-org/app", wantOrigin: FromEnv,
		},
		{
			name: "env URL form", env: map[string]string{EnvVar: " https://github.com/env-org/app.git\n"},
			remote: "https://github.com/remote-org/app.git",
			want:   "env-org/app", wantOrigin: FromEnv,
		},
		{
			name: "stored wins over remote", stored: "stored-org/app", remote: "git@github.com:remote-org/app.git",
			want: "stored-org/app", wantOrigin: FromStored,
		},
		{
			name: "remote used last", remote: "git@github.com:remote-org/app.git",
			want: "remote-org/app", wantOrigin: FromRemote,
		},
		{
			name: "remote on another host", remote: "ssh://git@gitlab.example.com:2222/remote-org/app.git",
			want: "gitlab.example.com/remote-org/app", wantOrigin: FromRemote,
		},
		{
			name: "empty env counts as unset", env: map[string]string{EnvVar: ""},
			stored: "stored-org/app", remote: "https://github.com/remote-org/app",
			want: "stored-org/app", wantOrigin: FromStored,
		},
		{
			name: "white space env counts as unset", env: map[string]string{EnvVar: " \t\n"},
			remote: "https://github.com/remote-org/app",
			want:   "remote-org/app", wantOrigin: FromRemote,
		},
		{
			name: "invalid env is an error, not a fall-through", env: map[string]string{EnvVar: "-bad/app"},
			stored: "stored-org/app", remote: "https://github.com/remote-org/app",
			wantOrigin: FromEnv, wantErr: []error{ErrInvalid},
			errHas:    []string{"UPDATE_REPO", "-bad", "hyphen", "set it to OWNER/NAME"},
			errHasNot: []string{"stored-org", "remote-org"},
		},
		{
			name: "env naming a local path is invalid, not a request for git tags", env: map[string]string{EnvVar: "/srv/app.git"},
			remote:     "https://github.com/remote-org/app",
			wantOrigin: FromEnv, wantErr: []error{ErrInvalid},
			errHas: []string{"UPDATE_REPO", "must name a hosted repository"},
		},
		{
			name: "env with credentials: error does not leak them", env: map[string]string{EnvVar: "https://u:tok3n@github.com/o/n/x"},
			wantOrigin: FromEnv, wantErr: []error{ErrInvalid},
			errHas: []string{"UPDATE_REPO", "https://github.com/o/n/x"}, errHasNot: []string{"tok3n", "u:"},
		},
		{
			name: "invalid stored value is an error, not a fall-through", storedRaw: "apiVersion: updates.better-paas.io/v1\nkind: UpdateRepo\nrepo: a/b/c/d\n",
			remote:     "https://github.com/remote-org/app",
			wantOrigin: FromStored, wantErr: []error{ErrInvalid},
			errHas: []string{"update-repo.yaml", "repo set OWNER/NAME", "4 part(s)"}, errHasNot: []string{"remote-org"},
		},
		{
			name: "corrupt stored file is an error", storedRaw: "repo: [unclosed\n",
			remote:     "https://github.com/remote-org/app",
			wantOrigin: FromStored, wantErr: []error{ErrInvalid},
			errHas: []string{"update-repo.yaml", "repo set OWNER/NAME", "delete the file"},
		},
		{
			name: "local remote means git tags", remote: "/srv/git/app.git",
			wantOrigin: FromRemote, wantErr: []error{ErrNotHosted},
			errHas: []string{"git remote origin", "local path"},
		},
		{
			name: "file remote means git tags", remote: "file:///srv/git/app.git",
			wantOrigin: FromRemote, wantErr: []error{ErrNotHosted},
		},
		{
			name: "invalid remote names the fix", remote: "https://gitlab.example.com/group/sub/app.git",
			wantOrigin: FromRemote, wantErr: []error{ErrInvalid},
			errHas: []string{"git remote origin", "UPDATE_REPO=OWNER/NAME", "repo set"},
		},
		{
			name: "remote with credentials", remote: "https://x-access-token:ghs_abc@github.com/remote-org/app.git",
			want: "remote-org/app", wantOrigin: FromRemote,
		},
		{
			name: "nothing set, no remote configured", noRemote: true,
			wantErr: []error{ErrNoRepo},
			errHas:  []string{"UPDATE_REPO=OWNER/NAME", "repo set OWNER/NAME", "git remote add origin"},
		},
		{
			name: "nothing set, remote empty", remote: "",
			wantErr: []error{ErrNoRepo},
		},
		{
			name: "nothing set, remote lookup fails", remoteErr: errNoOrigin,
			wantErr: []error{ErrNoRepo, errNoOrigin},
			errHas:  []string{"remote not found", "UPDATE_REPO=OWNER/NAME"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "update-repo.yaml")
			if tt.stored != "" {
				storeIn(t, file, tt.stored)
			}
			if tt.storedRaw != "" {
				if err := os.WriteFile(file, []byte(tt.storedRaw), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := Resolver{Getenv: env(tt.env), StoreFile: file}
			if !tt.noRemote {
				r.RemoteURL = func() (string, error) { return tt.remote, tt.remoteErr }
			}
			got, origin, err := r.Resolve()
			if origin != tt.wantOrigin {
				t.Errorf("origin = %q, want %q", origin, tt.wantOrigin)
			}
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				if got.String() != tt.want {
					t.Errorf("repo = %q, want %q", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Resolve = %v from %q, want error", got, origin)
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("error %q is not %v", err, want)
				}
			}
			for _, s := range tt.errHas {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			for _, s := range tt.errHasNot {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q mentions %q", err, s)
				}
			}
			if got != (Repo{}) {
				t.Errorf("Resolve returned %#v with its error", got)
			}
		})
	}
}

func TestResolveDefaultsToProcessEnvironment(t *testing.T) {
	t.Setenv(EnvVar, "proc-org/app")
	got, origin, err := Resolver{}.Resolve()
	if err != nil || origin != FromEnv || got.String() != "proc-org/app" {
		t.Fatalf("Resolve = %v, %q, %v; want proc-org/app from the environment", got, origin, err)
	}
}

func TestResolveEnterpriseHosts(t *testing.T) {
	tests := []struct {
		name, source string
		hosts        []string
		wantGitHub   bool
	}{
		{"https remote", "https://ghe.example.com/o/n.git", []string{"ghe.example.com"}, true},
		{"ssh remote", "git@ghe.example.com:o/n.git", []string{"GHE.example.com"}, true},
		{"ssh URL with port", "ssh://git@ghe.example.com:2222/o/n.git", []string{"https://ghe.example.com/"}, true},
		{"https with port", "https://ghe.example.com:8443/o/n", []string{"ghe.example.com:8443"}, true},
		{"port must match", "https://ghe.example.com:8443/o/n", []string{"ghe.example.com"}, false},
		{"not listed", "https://ghe.example.com/o/n.git", []string{"other.example.com"}, false},
		{"no list", "https://ghe.example.com/o/n.git", nil, false},
		{"github.com needs no list", "https://github.com/o/n.git", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, via := range []string{"env", "stored", "remote"} {
				file := filepath.Join(t.TempDir(), "update-repo.yaml")
				r := Resolver{Getenv: env(nil), StoreFile: file, EnterpriseHosts: tt.hosts}
				switch via {
				case "env":
					r.Getenv = env(map[string]string{EnvVar: tt.source})
				case "stored":
					storeIn(t, file, tt.source)
				case "remote":
					r.RemoteURL = func() (string, error) { return tt.source, nil }
				}
				got, _, err := r.Resolve()
				if err != nil {
					t.Fatalf("%s: Resolve: %v", via, err)
				}
				if got.IsGitHub() != tt.wantGitHub {
					t.Errorf("%s: %#v.IsGitHub() = %v, want %v", via, got, got.IsGitHub(), tt.wantGitHub)
				}
			}
		})
	}
}

func TestStoreStoredClearRoundTrip(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "update-repo.yaml")
	r := Resolver{Getenv: env(nil), StoreFile: file, EnterpriseHosts: []string{"ghe.example.com"}}

	if _, ok, err := r.Stored(); ok || err != nil {
		t.Fatalf("Stored before Store = %v, %v; want nothing", ok, err)
	}
	for _, in := range []string{"first-org/app", "https://ghe.example.com:8443/o/n.git", "git@ghe.example.com:second/app.git"} {
		want, err := Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Store(want); err != nil {
			t.Fatalf("Store(%v): %v", want, err)
		}
		got, ok, err := r.Stored()
		if err != nil || !ok {
			t.Fatalf("Stored = %v, %v", ok, err)
		}
		want = r.mark(want)
		if got != want {
			t.Errorf("Stored = %#v, want %#v", got, want)
		}
		assertOnlyEntry(t, dir, "update-repo.yaml")
		fi, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("mode = %v, want 0644", fi.Mode().Perm())
		}
	}

	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"apiVersion: " + APIVersion, "kind: " + Kind, "repo: ghe.example.com/second/app"} {
		if !strings.Contains(string(data), line+"\n") {
			t.Errorf("stored file lacks %q:\n%s", line, data)
		}
	}

	if err := r.Clear(); err != nil {
		t.Fatalf("Clear: %v", err)
	}
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("file still exists after Clear: %v", err)
	}
	if _, ok, err := r.Stored(); ok || err != nil {
		t.Errorf("Stored after Clear = %v, %v; want nothing", ok, err)
	}
	if err := r.Clear(); err != nil {
		t.Errorf("second Clear: %v", err)
	}
	assertOnlyEntry(t, dir)
}

func TestStoredFileGolden(t *testing.T) {
	file := filepath.Join(t.TempDir(), "update-repo.yaml")
	storeIn(t, file, "https://github.com/your-org/better-paas.git")
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := storeHeader + "apiVersion: updates.better-paas.io/v1\nkind: UpdateRepo\nrepo: your-org/better-paas\n"
	if string(got) != want {
		t.Errorf("stored file:\n%s\nwant:\n%s", got, want)
	}
}

func TestStoreRejectsInvalidAndKeepsOldValue(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "update-repo.yaml")
	storeIn(t, file, "good-org/app")
	before, _ := os.ReadFile(file)

	r := Resolver{StoreFile: file}
	for _, bad := range []Repo{{}, {Owner: "-x", Name: "n"}, {Host: "github.com", Owner: "o", Name: "a/b"}, {Host: "bad host", Owner: "o", Name: "n"}, {Owner: "x.com", Name: "o/n"}, {Owner: "o", Name: "n.git"}} {
		err := r.Store(bad)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Store(%#v) = %v, want ErrInvalid", bad, err)
		}
	}
	after, _ := os.ReadFile(file)
	if string(after) != string(before) {
		t.Errorf("a rejected Store changed the file:\n%s", after)
	}
	assertOnlyEntry(t, dir, "update-repo.yaml")

	if err := (Resolver{}).Store(Repo{Host: "github.com", Owner: "o", Name: "n"}); err == nil {
		t.Error("Store without StoreFile succeeded")
	}
}

func TestStoreIntoMissingFolderFails(t *testing.T) {
	dir := t.TempDir()
	r := Resolver{StoreFile: filepath.Join(dir, "missing", "update-repo.yaml")}
	err := r.Store(Repo{Host: "github.com", Owner: "o", Name: "n"})
	if err == nil || !strings.HasPrefix(err.Error(), "cannot store update repository: ") {
		t.Fatalf("Store into a missing folder = %v", err)
	}
	assertOnlyEntry(t, dir)
}

func TestStoredCorrupt(t *testing.T) {
	tests := []struct{ name, content, want string }{
		{"not yaml", "repo: [unclosed\n", "cannot decode"},
		{"unknown field", "apiVersion: updates.better-paas.io/v1\nkind: UpdateRepo\nrepo: o/n\ntoken: x\n", "cannot decode"},
		{"duplicate field", "apiVersion: updates.better-paas.io/v1\nkind: UpdateRepo\nrepo: o/n\nrepo: p/n\n", "cannot decode"},
		{"empty file", "", "apiVersion/kind"},
		{"wrong kind", "apiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\nrepo: o/n\n", "apiVersion/kind"},
		{"wrong apiVersion", "apiVersion: v1\nkind: UpdateRepo\nrepo: o/n\n", "apiVersion/kind"},
		{"missing repo", "apiVersion: updates.better-paas.io/v1\nkind: UpdateRepo\n", "empty"},
		{"invalid repo", "apiVersion: updates.better-paas.io/v1\nkind: UpdateRepo\nrepo: -o/n\n", "hyphen"},
		{"local path", "apiVersion: updates.better-paas.io/v1\nkind: UpdateRepo\nrepo: /srv/app\n", "must name a hosted repository"},
		{"credentials", "apiVersion: updates.better-paas.io/v1\nkind: UpdateRepo\nrepo: https://u:tok3n@github.com/o\n", "1 part(s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "update-repo.yaml")
			if err := os.WriteFile(file, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, ok, err := Resolver{StoreFile: file}.Stored()
			if err == nil || ok {
				t.Fatalf("Stored = %v, %v; want an error", ok, err)
			}
			if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotHosted) {
				t.Errorf("error %q: want ErrInvalid only", err)
			}
			for _, s := range []string{"cannot read stored update repository " + file, tt.want, "repo set OWNER/NAME"} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "tok3n") {
				t.Errorf("error leaks a credential: %v", err)
			}
		})
	}
}

func TestStoredUnreadableIsNotCorrupt(t *testing.T) {
	// A folder where the file should be: reading fails with an I/O error
	// that is not ErrInvalid, so the caller does not tell the human to
	// rewrite a file that is fine.
	file := filepath.Join(t.TempDir(), "update-repo.yaml")
	if err := os.Mkdir(file, 0o755); err != nil {
		t.Fatal(err)
	}
	_, _, err := Resolver{StoreFile: file}.Stored()
	if err == nil || errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), file) {
		t.Fatalf("Stored of a folder = %v; want an I/O error naming the file", err)
	}
}

func TestNoStoreFile(t *testing.T) {
	r := Resolver{Getenv: env(nil), RemoteURL: func() (string, error) { return "https://github.com/o/n", nil }}
	if _, ok, err := r.Stored(); ok || err != nil {
		t.Errorf("Stored without StoreFile = %v, %v", ok, err)
	}
	if err := r.Clear(); err != nil {
		t.Errorf("Clear without StoreFile: %v", err)
	}
	got, origin, err := r.Resolve()
	if err != nil || origin != FromRemote || got.String() != "o/n" {
		t.Errorf("Resolve = %v, %q, %v", got, origin, err)
	}
}

// assertOnlyEntry checks that dir holds exactly names, so no temporary
// file was left behind.
func assertOnlyEntry(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("folder holds %v, want %v", got, names)
	}
}

func TestResolveReadsTheUnitEnvironment(t *testing.T) {
	store := filepath.Join(t.TempDir(), "update-repo.yaml")
	unitEnv := func(entries ...string) func() ([]string, error) {
		return func() ([]string, error) { return entries, nil }
	}
	r := Resolver{Getenv: env(nil), StoreFile: store, Unit: "bp.service",
		UnitEnv:   unitEnv("ADDR=127.0.0.1:8080", "UPDATE_REPO=old/repo", "UPDATE_REPO= acme/bp "),
		RemoteURL: func() (string, error) { return "https://github.com/remote/repo.git", nil }}
	if err := r.Store(Repo{Owner: "stored", Name: "repo"}); err != nil {
		t.Fatal(err)
	}
	repo, from, err := r.Resolve()
	if err != nil || repo.String() != "acme/bp" || from != FromUnit("bp.service") {
		t.Errorf("unit: got %v, %q, %v; want acme/bp from the unit", repo, from, err)
	}
	// The updater's own environment wins over the unit's.
	r.Getenv = env(map[string]string{EnvVar: "own/repo"})
	if repo, from, _ := r.Resolve(); repo.String() != "own/repo" || from != FromEnv {
		t.Errorf("own environment: got %v, %q", repo, from)
	}
	// A unit without it, or one that cannot be read, falls through.
	r.Getenv = env(nil)
	for _, ue := range []func() ([]string, error){unitEnv("ADDR=x"), func() ([]string, error) { return nil, errors.New("no systemd") }} {
		r.UnitEnv = ue
		if repo, from, _ := r.Resolve(); repo.String() != "stored/repo" || from != FromStored {
			t.Errorf("no unit value: got %v, %q", repo, from)
		}
	}
	// A malformed value is an error naming the unit.
	r.UnitEnv = unitEnv("UPDATE_REPO=not a repo")
	if _, from, err := r.Resolve(); !errors.Is(err, ErrInvalid) || from != FromUnit("bp.service") || !strings.Contains(err.Error(), "bp.service") {
		t.Errorf("malformed: from %q, err %v", from, err)
	}
}
