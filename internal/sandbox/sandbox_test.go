package sandbox

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func requireGit(t *testing.T) {
	t.Helper()
	if _, err := git(context.Background(), "", nil, "--version"); err != nil {
		t.Skipf("git is not usable: %v", err)
	}
}

// run runs git in dir and fails the test on error.
func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := git(context.Background(), dir, nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newDefaultOrigin(t *testing.T) string {
	t.Helper()
	requireGit(t)
	origin, err := NewOrigin(context.Background(), filepath.Join(t.TempDir(), "origin.git"), DefaultReleases())
	if err != nil {
		t.Fatal(err)
	}
	return origin
}

// tags lists "<tag> <object type> <commit>" for every tag of repo.
func tags(t *testing.T, repo string) []string {
	t.Helper()
	out := run(t, repo, "for-each-ref", "--format=%(refname:short) %(objecttype) %(*objectname)", "refs/tags")
	return strings.Split(out, "\n")
}

func TestNewOriginDefaultReleases(t *testing.T) {
	t.Parallel()
	origin := newDefaultOrigin(t)

	if got := run(t, origin, "rev-parse", "--is-bare-repository"); got != "true" {
		t.Errorf("origin is not bare: %s", got)
	}
	got := tags(t, origin)
	commits := map[string]string{}
	for _, line := range got {
		f := strings.Fields(line)
		if len(f) != 3 || f[1] != "tag" {
			t.Fatalf("tag line %q, want an annotated tag", line)
		}
		commits[f[0]] = f[2]
	}
	if len(commits) != 3 || commits["v1.0.0"] == "" || commits["v1.1.0"] == "" || commits["v1.2.0"] == "" {
		t.Fatalf("tags = %v, want v1.0.0 v1.1.0 v1.2.0", got)
	}
	// One linear history: each release is a child of the one before.
	for child, parent := range map[string]string{"v1.1.0": "v1.0.0", "v1.2.0": "v1.1.0"} {
		if p := run(t, origin, "rev-parse", child+"^{commit}^"); p != commits[parent] {
			t.Errorf("parent of %s = %s, want %s (%s)", child, p, parent, commits[parent])
		}
	}
	if main := run(t, origin, "rev-parse", "refs/heads/main"); main != commits["v1.2.0"] {
		t.Errorf("main = %s, want v1.2.0 (%s)", main, commits["v1.2.0"])
	}

	// Each tag's message carries its CHANGELOG section: the release notes
	// of the git-tags source.
	notes := run(t, origin, "tag", "--list", "--format=%(contents)", "v1.1.0")
	if !strings.HasPrefix(notes, "Release v1.1.0\n\n- Web UI lists the notes") || strings.Contains(notes, "## v1.0.0") {
		t.Errorf("v1.1.0's tag message = %q, want its CHANGELOG section", notes)
	}

	// Same releases, same commits and tags: tests can rely on the ids.
	again := newDefaultOrigin(t)
	if got2 := tags(t, again); strings.Join(got2, "\n") != strings.Join(got, "\n") {
		t.Errorf("second origin differs:\n%v\n%v", got, got2)
	}
}

func TestOriginTrees(t *testing.T) {
	t.Parallel()
	origin := newDefaultOrigin(t)
	rels := DefaultReleases()
	overlay := func(rel int, name string) string {
		data, err := fs.ReadFile(rels[rel].Overlay, name)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(data))
	}

	tests := []struct {
		tag, path, want string
	}{
		{"v1.0.0", "go.mod", strings.TrimSpace(appGoMod)},
		{"v1.0.0", "backend/health.go", overlay(0, "backend/health.go")},
		{"v1.1.0", "backend/migrations.go", overlay(1, "backend/migrations.go")},
		{"v1.1.0", "backend/health.go", overlay(0, "backend/health.go")},
		{"v1.2.0", "backend/health.go", overlay(2, "backend/health.go")},
		{"v1.2.0", "backend/migrations.go", overlay(1, "backend/migrations.go")},
		{"v1.2.0", "frontend/build.mjs", overlay(0, "frontend/build.mjs")},
		{"v1.2.0", "go.mod", strings.TrimSpace(appGoMod)},
	}
	for _, tt := range tests {
		if got := run(t, origin, "show", tt.tag+":"+tt.path); got != tt.want {
			t.Errorf("%s:%s differs from its release:\n%s", tt.tag, tt.path, got)
		}
	}
	if overlay(0, "backend/health.go") == overlay(2, "backend/health.go") {
		t.Error("v1.2.0 does not change backend/health.go")
	}

	// Every file of a release is committed: a .gitignore rule that also
	// matches source (as "server.*" once matched backend/server.go) fails here.
	for _, rel := range rels {
		committed := map[string]bool{}
		for _, name := range strings.Split(run(t, origin, "ls-tree", "-r", "--name-only", rel.Tag), "\n") {
			committed[name] = true
		}
		err := fs.WalkDir(rel.Overlay, ".", func(name string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !committed[name] {
				t.Errorf("%s: %s is not committed", rel.Tag, name)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestAddRelease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	origin := newDefaultOrigin(t)
	v120 := run(t, origin, "rev-parse", "v1.2.0^{commit}")

	rel := Release{
		Tag:    "v1.3.0",
		Files:  map[string]string{"docs/NOTES.md": "new\n"},
		Remove: []string{"CHANGELOG.md"},
	}
	if err := AddRelease(ctx, origin, rel); err != nil {
		t.Fatal(err)
	}
	if typ := run(t, origin, "cat-file", "-t", "v1.3.0"); typ != "tag" {
		t.Errorf("v1.3.0 is a %s, want an annotated tag", typ)
	}
	if parent := run(t, origin, "rev-parse", "v1.3.0^{commit}^"); parent != v120 {
		t.Errorf("parent of v1.3.0 = %s, want v1.2.0 %s", parent, v120)
	}
	if main, tag := run(t, origin, "rev-parse", "main"), run(t, origin, "rev-parse", "v1.3.0^{commit}"); main != tag {
		t.Errorf("main = %s, want v1.3.0 %s", main, tag)
	}
	files := run(t, origin, "ls-tree", "-r", "--name-only", "v1.3.0")
	if !strings.Contains(files, "docs/NOTES.md") || strings.Contains(files, "CHANGELOG.md") {
		t.Errorf("v1.3.0 tree does not reflect the release:\n%s", files)
	}

	before := tags(t, origin)
	if err := AddRelease(ctx, origin, rel); !errors.Is(err, ErrTagExists) {
		t.Errorf("adding v1.3.0 again: err = %v, want ErrTagExists", err)
	}
	if after := tags(t, origin); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("failed AddRelease changed the tags:\n%v\n%v", before, after)
	}
}

func TestReleaseErrors(t *testing.T) {
	t.Parallel()
	requireGit(t)
	base := Release{Tag: "v1.0.0", Files: map[string]string{"README.md": "app\n"}}
	tests := []struct {
		name string
		rels []Release
		want error
	}{
		{"no releases", nil, ErrInvalidRelease},
		{"empty tag", []Release{{Files: map[string]string{"a": "a"}}}, ErrInvalidRelease},
		{"path leaves repository", []Release{{Tag: "v1", Files: map[string]string{"../a": "a"}}}, ErrInvalidRelease},
		{"absolute path", []Release{{Tag: "v1", Files: map[string]string{"/etc/a": "a"}}}, ErrInvalidRelease},
		{"path into .git", []Release{{Tag: "v1", Files: map[string]string{".git/config": "a"}}}, ErrInvalidRelease},
		{"remove missing file", []Release{base, {Tag: "v1.1.0", Remove: []string{"nope.txt"}}}, ErrInvalidRelease},
		{"duplicate tag", []Release{base, {Tag: "v1.0.0"}}, ErrTagExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "origin.git")
			_, err := NewOrigin(context.Background(), dir, tt.rels)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if _, statErr := os.Stat(dir); !errors.Is(statErr, fs.ErrNotExist) {
				t.Errorf("failed NewOrigin left %s behind", dir)
			}
		})
	}

	t.Run("origin folder not empty", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "keep"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := NewOrigin(context.Background(), dir, []Release{base}); !errors.Is(err, fs.ErrExist) {
			t.Errorf("err = %v, want fs.ErrExist", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "keep")); err != nil {
			t.Errorf("NewOrigin removed a file it did not create: %v", err)
		}
	})
}

func TestClone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	origin := newDefaultOrigin(t)
	dir := filepath.Join(t.TempDir(), "install")

	if err := Clone(ctx, origin, dir, "v1.1.0"); err != nil {
		t.Fatal(err)
	}
	if _, err := git(ctx, dir, nil, "symbolic-ref", "--quiet", "HEAD"); err == nil {
		t.Error("HEAD is on a branch, want detached")
	}
	if head, tag := run(t, dir, "rev-parse", "HEAD"), run(t, dir, "rev-parse", "v1.1.0^{commit}"); head != tag {
		t.Errorf("HEAD = %s, want v1.1.0 %s", head, tag)
	}
	if _, err := os.Stat(filepath.Join(dir, "backend", "migrations.go")); err != nil {
		t.Errorf("work tree is not checked out: %v", err)
	}

	// What a host writes next to the checkout stays out of git's way.
	for _, name := range []string{
		"data/app.db.json", "data/migrations/0001-create-notes-db.json", ".env", "server", "server.bak", "server.new",
		"frontend/dist/index.html", "frontend/dist.new/index.html", "node_modules/x/index.js",
	} {
		if err := writeFile(filepath.Join(dir, filepath.FromSlash(name)), []byte("host\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if status := run(t, dir, "status", "--porcelain"); status != "" {
		t.Errorf(".gitignore does not cover host files:\n%s", status)
	}

	// The install follows the origin: a release added later is fetchable.
	if err := AddRelease(ctx, origin, Release{Tag: "v1.3.0"}); err != nil {
		t.Fatal(err)
	}
	run(t, dir, "fetch", "--quiet", "--tags", "origin")
	if got := run(t, dir, "tag", "--list", "v1.3.0"); got != "v1.3.0" {
		t.Errorf("fetch did not bring v1.3.0: %q", got)
	}
}

func TestCloneUnknownTag(t *testing.T) {
	t.Parallel()
	origin := newDefaultOrigin(t)
	dir := filepath.Join(t.TempDir(), "install")
	if err := Clone(context.Background(), origin, dir, "v9.9.9"); !errors.Is(err, ErrUnknownTag) {
		t.Fatalf("err = %v, want ErrUnknownTag", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Clone of an unknown tag created %s", dir)
	}
}
