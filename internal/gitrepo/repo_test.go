package gitrepo

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestOpen(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	plain := t.TempDir()
	if err := os.WriteFile(filepath.Join(plain, "file"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dir     string
		wantErr error
	}{
		{"install", f.install, nil},
		{"plain folder", plain, ErrNotGitCheckout},
		{"missing folder", filepath.Join(plain, "nope"), ErrNotGitCheckout},
		{"bare repository", f.origin, ErrNotGitCheckout},
		// A folder inside a checkout is not itself a checkout: Open must
		// not climb to the enclosing repository.
		{"subfolder of a checkout", filepath.Join(f.install, "frontend"), ErrNotGitCheckout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Open(tt.dir)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if r.Dir() != tt.dir {
					t.Errorf("Dir() = %s, want %s", r.Dir(), tt.dir)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open error = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.dir) {
				t.Errorf("error %q does not name the folder", err)
			}
		})
	}
}

func TestHeadDetachedAndOnBranch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	got, err := open(t, f.install).Head()
	if err != nil {
		t.Fatal(err)
	}
	if got != f.commits["v1.0.0"] {
		t.Errorf("detached Head = %s, want %s", got, f.commits["v1.0.0"])
	}
	git(t, f.install, "checkout", "-q", "main")
	got, err = open(t, f.install).Head()
	if err != nil {
		t.Fatal(err)
	}
	if got != f.commits["v1.2.0"] {
		t.Errorf("branch Head = %s, want %s", got, f.commits["v1.2.0"])
	}
}

func TestTagsAt(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// A second tag on v1.0.0's commit, annotated, and a tag of a tag.
	git(t, f.install, "tag", "-a", "stable", "-m", "stable", f.commits["v1.0.0"])
	git(t, f.install, "tag", "-a", "nested", "-m", "tag of a tag", "stable")
	r := open(t, f.install)
	tests := []struct {
		commit string
		want   []string
	}{
		{f.commits["v1.0.0"], []string{"nested", "stable", "v1.0.0"}},
		{f.commits["v1.1.0"], []string{"v1.1.0"}},
		{f.commits["v1.2.0"], []string{"v1.2.0"}},
		{strings.Repeat("ab", 20), nil},
	}
	for _, tt := range tests {
		got, err := r.TagsAt(tt.commit)
		if err != nil {
			t.Fatalf("TagsAt(%s): %v", tt.commit, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("TagsAt(%s) = %v, want %v", tt.commit, got, tt.want)
		}
	}
	for _, bad := range []string{"", "abc", "v1.0.0", strings.Repeat("z", 40)} {
		if _, err := r.TagsAt(bad); err == nil {
			t.Errorf("TagsAt(%q) succeeded, want an error", bad)
		}
	}
}

func TestResolveTag(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := open(t, f.install)
	for _, tag := range []string{"v1.0.0", "v1.1.0", "v1.2.0"} {
		got, err := r.ResolveTag(tag)
		if err != nil {
			t.Fatalf("ResolveTag(%s): %v", tag, err)
		}
		if got != f.commits[tag] {
			t.Errorf("ResolveTag(%s) = %s, want commit %s", tag, got, f.commits[tag])
		}
	}
	// The annotated tag's own object must not leak out as the "commit".
	if obj := git(t, f.install, "rev-parse", "v1.1.0"); obj == f.commits["v1.1.0"] {
		t.Fatalf("fixture broken: v1.1.0 is not annotated")
	}
	if _, err := r.ResolveTag("v9.9.9"); !errors.Is(err, ErrTagNotFound) {
		t.Errorf("ResolveTag(v9.9.9) error = %v, want ErrTagNotFound", err)
	}
	for _, bad := range []string{"", "bad tag", "v1:main", "v1*", "-x", "refs/tags/v1.0.0"} {
		_, err := r.ResolveTag(bad)
		if err == nil || errors.Is(err, ErrTagNotFound) {
			t.Errorf("ResolveTag(%q) error = %v, want an invalid-name error", bad, err)
		}
	}
}

func TestRemoteURL(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := open(t, f.install)
	got, err := r.RemoteURL("origin")
	if err != nil {
		t.Fatal(err)
	}
	if got != f.origin {
		t.Errorf("RemoteURL(origin) = %s, want %s", got, f.origin)
	}
	if _, err := r.RemoteURL("upstream"); !errors.Is(err, ErrRemoteNotFound) {
		t.Errorf("RemoteURL(upstream) error = %v, want ErrRemoteNotFound", err)
	}
}
