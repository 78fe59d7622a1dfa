package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// assertCheckedOut verifies the install is exactly at tag for tracked
// paths (compared with a fresh git CLI checkout), HEAD is detached there,
// and both git and LocalModifications see a clean tree.
func assertCheckedOut(t *testing.T, r *Repo, origin, tag, commit string) {
	t.Helper()
	want := referenceTree(t, origin, tag)
	got := withoutPrefix(treeDigest(t, r.Dir()), preciousRoots...)
	// Folders that exist only to hold untracked files (frontend/ for
	// frontend/dist when the version has no frontend) are not tracked.
	for _, root := range preciousRoots {
		for d := filepath.Dir(root); d != "."; d = filepath.Dir(d) {
			if _, tracked := want[d]; !tracked {
				delete(got, d)
			}
		}
	}
	if d := diffDigests(want, got); d != "" {
		t.Errorf("tracked files differ from a git checkout of %s:\n%s", tag, d)
	}
	if h, err := r.Head(); err != nil || h != commit {
		t.Errorf("Head = %s, %v; want %s", h, err, commit)
	}
	if out, err := gitTry(r.Dir(), "symbolic-ref", "-q", "HEAD"); err == nil {
		t.Errorf("HEAD is on branch %s, want detached", out)
	}
	if s := git(t, r.Dir(), "status", "--porcelain", "--untracked-files=no"); s != "" {
		t.Errorf("git status after Checkout(%s) is not clean:\n%s", tag, s)
	}
	if mods, err := r.LocalModifications(); err != nil || len(mods) != 0 {
		t.Errorf("LocalModifications after Checkout(%s) = %q, %v", tag, mods, err)
	}
}

// gitTry runs git and returns its output and error without failing.
func gitTry(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

// unchanged runs fn and fails if anything in dir changed: work tree
// (tracked, untracked, ignored), HEAD or the index.
func unchanged(t *testing.T, dir string, fn func()) {
	t.Helper()
	beforeTree, beforeGit := treeDigest(t, dir), gitState(t, dir)
	fn()
	if d := diffDigests(beforeTree, treeDigest(t, dir)); d != "" {
		t.Errorf("work tree changed:\n%s", d)
	}
	if after := gitState(t, dir); after != beforeGit {
		t.Errorf("HEAD or index changed: %s -> %s", beforeGit, after)
	}
}

func TestCheckoutForwardAndBackKeepsUntrackedAndIgnoredFiles(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	addPrecious(t, f.install)
	precious := filterPrefix(treeDigest(t, f.install), preciousRoots...)
	if len(precious) < 12 {
		t.Fatalf("fixture: only %d precious entries", len(precious))
	}
	r := open(t, f.install)
	ctx := context.Background()
	for _, tag := range []string{"v1.1.0", "v1.2.0", "v1.0.0", "v1.2.0", "v1.1.0", "v1.0.0"} {
		if err := r.Checkout(ctx, f.commits[tag]); err != nil {
			t.Fatalf("Checkout(%s): %v", tag, err)
		}
		assertCheckedOut(t, r, f.origin, tag, f.commits[tag])
		if d := diffDigests(precious, filterPrefix(treeDigest(t, f.install), preciousRoots...)); d != "" {
			t.Fatalf("after Checkout(%s) untracked or ignored files changed:\n%s", tag, d)
		}
		// Spot checks, so a broken reference comparison cannot hide
		// everything.
		_, errOld := os.Stat(filepath.Join(f.install, "old.txt"))
		_, errDocs := os.Stat(filepath.Join(f.install, "docs"))
		switch tag {
		case "v1.0.0":
			if errOld != nil || !errors.Is(errDocs, os.ErrNotExist) {
				t.Errorf("at v1.0.0: old.txt %v (want present), docs %v (want removed with its empty folders)", errOld, errDocs)
			}
		default:
			if !errors.Is(errOld, os.ErrNotExist) || errDocs != nil {
				t.Errorf("at %s: old.txt %v (want removed), docs %v (want present)", tag, errOld, errDocs)
			}
		}
	}
}

func TestCheckoutRefusesLocalModifications(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  []string
	}{
		{"file changed by the update", func(t *testing.T, dir string) {
			writeFile(t, dir, "main.go", "package main // hotfix\n", 0o644)
		}, []string{"main.go"}},
		{"file the update does not touch", func(t *testing.T, dir string) {
			writeFile(t, dir, "README.md", "local notes\n", 0o644)
		}, []string{"README.md"}},
		{"deleted file", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "run.sh")); err != nil {
				t.Fatal(err)
			}
		}, []string{"run.sh"}},
		{"staged change", func(t *testing.T, dir string) {
			writeFile(t, dir, "main.go", "package main // staged hotfix\n", 0o644)
			git(t, dir, "add", "main.go")
		}, []string{"main.go"}},
		{"staged change, work tree reverted", func(t *testing.T, dir string) {
			writeFile(t, dir, "README.md", "staged only\n", 0o644)
			git(t, dir, "add", "README.md")
			git(t, dir, "checkout", "HEAD", "--", "README.md")
			git(t, dir, "reset", "-q")
			writeFile(t, dir, "README.md", "staged only\n", 0o644)
			git(t, dir, "add", "README.md")
			writeFile(t, dir, "README.md", "# app v1.0.0\n", 0o644)
		}, []string{"README.md"}},
		{"staged new file", func(t *testing.T, dir string) {
			writeFile(t, dir, "extra.go", "package main\n", 0o644)
			git(t, dir, "add", "extra.go")
		}, []string{"extra.go"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			addPrecious(t, f.install)
			tt.setup(t, f.install)
			r := open(t, f.install)
			unchanged(t, f.install, func() {
				err := r.Checkout(context.Background(), f.commits["v1.1.0"])
				if !errors.Is(err, ErrLocalModifications) {
					t.Fatalf("Checkout error = %v, want ErrLocalModifications", err)
				}
				var lm *LocalModificationsError
				if !errors.As(err, &lm) || !reflect.DeepEqual(lm.Paths, tt.want) {
					t.Errorf("paths = %v, want %v", lm, tt.want)
				}
				for _, s := range append([]string{"git stash", "git checkout -- <path>"}, tt.want...) {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
			})
			if h, _ := r.Head(); h != f.commits["v1.0.0"] {
				t.Errorf("HEAD moved to %s", h)
			}
		})
	}
}

func TestCheckoutRefusesUntrackedInTheWay(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		tag   string
		setup func(t *testing.T, dir string)
		want  []string
	}{
		{"untracked file where a file is added", "v1.1.0", func(t *testing.T, dir string) {
			writeFile(t, dir, "docs/guide/new.md", "my own notes\n", 0o644)
		}, []string{"docs/guide/new.md"}},
		{"ignored file where a file is added", "v1.2.0", func(t *testing.T, dir string) {
			writeFile(t, dir, ".git/info/exclude", "pkg/\n", 0o644)
			writeFile(t, dir, "pkg/lib.go", "package local\n", 0o644)
		}, []string{"pkg/lib.go"}},
		{"untracked file where a folder is needed", "v1.1.0", func(t *testing.T, dir string) {
			writeFile(t, dir, "docs", "a file, not a folder\n", 0o644)
		}, []string{"docs"}},
		{"symlink where a folder is needed", "v1.1.0", func(t *testing.T, dir string) {
			writeFile(t, dir, "data/keep.txt", "precious", 0o644)
			if err := os.Symlink("data", filepath.Join(dir, "docs")); err != nil {
				t.Fatal(err)
			}
		}, []string{"docs"}},
		{"untracked folder where a file is added", "v1.2.0", func(t *testing.T, dir string) {
			writeFile(t, dir, "pkg/lib.go/inner.txt", "x", 0o644)
		}, []string{"pkg/lib.go/inner.txt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			addPrecious(t, f.install)
			tt.setup(t, f.install)
			r := open(t, f.install)
			unchanged(t, f.install, func() {
				// The dry run the reconciler asks before an update says the same.
				check, err := r.CheckCheckout(context.Background(), f.commits[tt.tag])
				if err != nil {
					t.Fatal(err)
				}
				var planned *LocalModificationsError
				if !errors.As(check.Refusal, &planned) || !errors.Is(check.Refusal, ErrUntrackedInTheWay) || !reflect.DeepEqual(planned.Paths, tt.want) {
					t.Fatalf("CheckCheckout refusal = %v, want ErrUntrackedInTheWay for %v", check.Refusal, tt.want)
				}
				if len(check.Modified) != 0 {
					t.Errorf("CheckCheckout modified = %q, want none (untracked files are not modifications)", check.Modified)
				}
				err = r.Checkout(context.Background(), f.commits[tt.tag])
				if !errors.Is(err, ErrUntrackedInTheWay) {
					t.Fatalf("Checkout error = %v, want ErrUntrackedInTheWay", err)
				}
				var lm *LocalModificationsError
				if !errors.As(err, &lm) || !reflect.DeepEqual(lm.Paths, tt.want) {
					t.Errorf("paths = %+v, want %v", lm, tt.want)
				}
			})
		})
	}
}

// An untracked file that already has the target's exact content is not in
// the way: replacing it loses nothing.
func TestCheckoutAcceptsIdenticalUntrackedFile(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	writeFile(t, f.install, "docs/guide/new.md", "added in v1.1.0\n", 0o644)
	r := open(t, f.install)
	if check, err := r.CheckCheckout(context.Background(), f.commits["v1.1.0"]); err != nil || check.Refusal != nil || len(check.Modified) != 0 {
		t.Fatalf("CheckCheckout = %+v, %v; want no modification and no refusal", check, err)
	}
	if err := r.Checkout(context.Background(), f.commits["v1.1.0"]); err != nil {
		t.Fatal(err)
	}
	assertCheckedOut(t, r, f.origin, "v1.1.0", f.commits["v1.1.0"])
}

// CheckCheckout answers what LocalModifications and Checkout would, from
// one look at the work tree: the modifications are listed whatever the
// refusal, also when the target is not fetched (the update check asks
// before the fetch) and when Checkout would take them for its own
// unfinished work.
func TestCheckCheckoutListsModificationsWhateverItsRefusal(t *testing.T) {
	t.Parallel()
	notFetched := strings.Repeat("1", 40)
	tests := []struct {
		name         string
		setup        func(t *testing.T, dir string)
		target       string // a tag of the fixture, or notFetched
		wantModified []string
		wantRefusal  error // nil: Checkout would go ahead
	}{
		{"clean tree", func(*testing.T, string) {}, "v1.1.0", []string{}, nil},
		{"edited file", func(t *testing.T, dir string) {
			writeFile(t, dir, "main.go", "edited\n", 0o644)
		}, "v1.1.0", []string{"main.go"}, ErrLocalModifications},
		{"edited file, target not fetched", func(t *testing.T, dir string) {
			writeFile(t, dir, "main.go", "edited\n", 0o644)
		}, notFetched, []string{"main.go"}, ErrCommitNotFound},
		{"an interrupted checkout to the target", func(t *testing.T, dir string) {
			writeFile(t, dir, "main.go", "package main // v1.1.0\n", 0o644)
		}, "v1.1.0", []string{"main.go"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			tt.setup(t, f.install)
			r := open(t, f.install)
			target := notFetched
			if tt.target != notFetched {
				target = f.commits[tt.target]
			}
			unchanged(t, f.install, func() {
				check, err := r.CheckCheckout(context.Background(), target)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(check.Modified, tt.wantModified) {
					t.Errorf("Modified = %q, want %q", check.Modified, tt.wantModified)
				}
				if mods, err := r.LocalModifications(); err != nil || !reflect.DeepEqual(mods, check.Modified) {
					t.Errorf("LocalModifications = %q, %v; CheckCheckout said %q", mods, err, check.Modified)
				}
				if tt.wantRefusal == nil && check.Refusal != nil || tt.wantRefusal != nil && !errors.Is(check.Refusal, tt.wantRefusal) {
					t.Errorf("Refusal = %v, want %v", check.Refusal, tt.wantRefusal)
				}
			})
		})
	}
}

// A checkout killed half way leaves HEAD on the old commit and some files
// at the new version. Running the same checkout again must finish it;
// checking out anything else must refuse.
func TestCheckoutResumesInterruptedCheckout(t *testing.T) {
	t.Parallel()
	partial := func(t *testing.T, dir string) {
		// Files written before the crash: some changed, one removed, one
		// added; run.sh and app.js not reached yet.
		writeFile(t, dir, "main.go", "package main // v1.1.0\n", 0o644)
		if err := os.Remove(filepath.Join(dir, "old.txt")); err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, "docs/guide/new.md", "added in v1.1.0\n", 0o644)
	}
	t.Run("crash while writing files", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		addPrecious(t, f.install)
		partial(t, f.install)
		r := open(t, f.install)
		if err := r.Checkout(context.Background(), f.commits["v1.1.0"]); err != nil {
			t.Fatalf("resumed Checkout: %v", err)
		}
		assertCheckedOut(t, r, f.origin, "v1.1.0", f.commits["v1.1.0"])
	})
	t.Run("crash after writing the index", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		addPrecious(t, f.install)
		// Index and work tree at v1.1.0, HEAD still at v1.0.0.
		git(t, f.install, "update-index", "-q", "--refresh") // the copy has new inodes
		git(t, f.install, "read-tree", "-m", "-u", "v1.0.0", "v1.1.0")
		r := open(t, f.install)
		if h, _ := r.Head(); h != f.commits["v1.0.0"] {
			t.Fatalf("fixture: HEAD = %s", h)
		}
		if err := r.Checkout(context.Background(), f.commits["v1.1.0"]); err != nil {
			t.Fatalf("resumed Checkout: %v", err)
		}
		assertCheckedOut(t, r, f.origin, "v1.1.0", f.commits["v1.1.0"])
	})
	t.Run("other target refuses", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t)
		partial(t, f.install)
		r := open(t, f.install)
		unchanged(t, f.install, func() {
			err := r.Checkout(context.Background(), f.commits["v1.0.0"])
			var lm *LocalModificationsError
			if !errors.As(err, &lm) || !errors.Is(err, ErrLocalModifications) {
				t.Fatalf("Checkout error = %v, want ErrLocalModifications", err)
			}
			// docs/guide/new.md is untracked at v1.0.0 and v1.0.0 does not
			// add it, so it is neither a modification nor in the way.
			if want := []string{"main.go", "old.txt"}; !reflect.DeepEqual(lm.Paths, want) {
				t.Errorf("paths = %v, want %v", lm.Paths, want)
			}
		})
	})
}

func TestCheckoutIsIdempotent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := open(t, f.install)
	ctx := context.Background()
	if err := r.Checkout(ctx, f.commits["v1.1.0"]); err != nil {
		t.Fatal(err)
	}
	indexPath := filepath.Join(f.install, ".git", "index")
	before, err := os.Stat(indexPath)
	if err != nil {
		t.Fatal(err)
	}
	unchanged(t, f.install, func() {
		if err := r.Checkout(ctx, f.commits["v1.1.0"]); err != nil {
			t.Fatalf("second Checkout: %v", err)
		}
	})
	after, err := os.Stat(indexPath)
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("second Checkout rewrote the index")
	}
}

func TestCheckoutDetachesFromBranch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	git(t, f.install, "checkout", "-q", "main")
	r := open(t, f.install)
	if err := r.Checkout(context.Background(), f.commits["v1.2.0"]); err != nil {
		t.Fatal(err)
	}
	assertCheckedOut(t, r, f.origin, "v1.2.0", f.commits["v1.2.0"])
	if got := git(t, f.install, "rev-parse", "main"); got != f.commits["v1.2.0"] {
		t.Errorf("branch main moved to %s", got)
	}
}

func TestCheckoutErrors(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		setup   func(t *testing.T, dir string)
		commit  func(f *fixture) string
		wantErr error
	}{
		{"cancelled context", cancelled, nil,
			func(f *fixture) string { return f.commits["v1.1.0"] }, context.Canceled},
		{"index locked by another git", context.Background(), func(t *testing.T, dir string) {
			writeFile(t, dir, ".git/index.lock", "", 0o644)
		}, func(f *fixture) string { return f.commits["v1.1.0"] }, ErrIndexLocked},
		{"unknown commit", context.Background(), nil,
			func(*fixture) string { return strings.Repeat("1", 40) }, ErrCommitNotFound},
		{"abbreviated hash", context.Background(), nil,
			func(f *fixture) string { return f.commits["v1.1.0"][:12] }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			addPrecious(t, f.install)
			if tt.setup != nil {
				tt.setup(t, f.install)
			}
			r := open(t, f.install)
			unchanged(t, f.install, func() {
				err := r.Checkout(tt.ctx, tt.commit(f))
				if err == nil {
					t.Fatal("Checkout succeeded, want an error")
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Fatalf("Checkout error = %v, want %v", err, tt.wantErr)
				}
			})
		})
	}
}

// undoAtEveryWrite makes each work tree write of Checkout(commit) fail in
// turn and verifies that after each failure the work tree, the index and
// HEAD are exactly as before. It returns how many failure points there
// were; the last round, with no failure, performs the checkout.
func undoAtEveryWrite(t *testing.T, r *Repo, commit string) int {
	t.Helper()
	injected := errors.New("injected write failure")
	beforeTree, beforeGit := treeDigest(t, r.Dir()), gitState(t, r.Dir())
	defer func() { r.beforeWrite = nil }()
	for n := 1; ; n++ {
		failWrite(r, n, injected)
		err := r.Checkout(context.Background(), commit)
		if err == nil {
			return n - 1
		}
		if !errors.Is(err, injected) {
			t.Fatalf("failure at write %d: Checkout error = %v, want the injected error", n, err)
		}
		if d := diffDigests(beforeTree, treeDigest(t, r.Dir())); d != "" {
			t.Fatalf("failure at write %d: work tree not restored:\n%s", n, d)
		}
		if after := gitState(t, r.Dir()); after != beforeGit {
			t.Fatalf("failure at write %d: HEAD or index changed: %s -> %s", n, beforeGit, after)
		}
	}
}

// Whichever write fails, Checkout puts back what it had already changed.
func TestCheckoutUndoesPartialWorkOnFailure(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	addPrecious(t, f.install)
	r := open(t, f.install)
	// v1.0.0 -> v1.1.0 removes old.txt and writes main.go, run.sh,
	// frontend/src/app.js and docs/guide/new.md.
	if n := undoAtEveryWrite(t, r, f.commits["v1.1.0"]); n != 5 {
		t.Errorf("exercised %d failure points, want 5", n)
	}
	assertCheckedOut(t, r, f.origin, "v1.1.0", f.commits["v1.1.0"])
}

// Cancelling the context while files are being written stops the
// checkout and undoes it.
func TestCheckoutCancelledMidway(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	addPrecious(t, f.install)
	r := open(t, f.install)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	r.beforeWrite = func(string) error {
		if calls++; calls == 3 {
			cancel()
		}
		return nil
	}
	unchanged(t, f.install, func() {
		if err := r.Checkout(ctx, f.commits["v1.1.0"]); !errors.Is(err, context.Canceled) {
			t.Fatalf("Checkout error = %v, want context.Canceled", err)
		}
	})
	if calls != 3 {
		t.Errorf("Checkout went on for %d writes after cancellation, want it to stop at the next one", calls-3)
	}
}

func TestLocalModificationsErrorMessage(t *testing.T) {
	t.Parallel()
	var paths []string
	for i := range 12 {
		paths = append(paths, fmt.Sprintf("f%02d.go", i))
	}
	err := error(&LocalModificationsError{Kind: ErrLocalModifications, Dir: "/opt/app", Paths: paths})
	msg := err.Error()
	for _, want := range []string{"f00.go", "f09.go", "and 2 more", "/opt/app", "git stash"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "f10.go") {
		t.Errorf("message %q lists more than 10 paths", msg)
	}
	if !errors.Is(err, ErrLocalModifications) || errors.Is(err, ErrUntrackedInTheWay) {
		t.Errorf("errors.Is does not follow Kind")
	}
}

// Paths that change kind between versions: file to folder, folder to file,
// symlink to file, new symlink, executable bit dropped.
func TestCheckoutTypeChanges(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	u := filepath.Join(root, "upstream")
	if err := os.MkdirAll(u, 0o755); err != nil {
		t.Fatal(err)
	}
	git(t, u, "init", "-q", "--template=", "-b", "main")
	writeFile(t, u, ".gitignore", fixtureGitignore, 0o644)
	writeFile(t, u, "README.md", "readme\n", 0o644)
	writeFile(t, u, "cfg", "a file\n", 0o644)
	writeFile(t, u, "assets/logo.txt", "logo\n", 0o644)
	writeFile(t, u, "assets/deep/icon.txt", "icon\n", 0o644)
	writeFile(t, u, "tool.sh", "#!/bin/sh\n", 0o755)
	if err := os.Symlink("README.md", filepath.Join(u, "link")); err != nil {
		t.Fatal(err)
	}
	git(t, u, "add", "-A")
	git(t, u, "commit", "-q", "-m", "A")
	git(t, u, "tag", "A")
	commitA := git(t, u, "rev-parse", "HEAD")

	for _, p := range []string{"cfg", "link"} {
		if err := os.Remove(filepath.Join(u, p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.RemoveAll(filepath.Join(u, "assets")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, u, "cfg/app.toml", "folder now\n", 0o644)
	writeFile(t, u, "assets", "a file now\n", 0o644)
	writeFile(t, u, "link", "regular now\n", 0o644)
	writeFile(t, u, "tool.sh", "#!/bin/sh\n", 0o644)
	if err := os.MkdirAll(filepath.Join(u, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../tool.sh", filepath.Join(u, "bin", "tool")); err != nil {
		t.Fatal(err)
	}
	git(t, u, "add", "-A")
	git(t, u, "commit", "-q", "-m", "B")
	git(t, u, "tag", "B")
	commitB := git(t, u, "rev-parse", "HEAD")

	origin := filepath.Join(root, "origin.git")
	install := filepath.Join(root, "install")
	git(t, root, "clone", "-q", "--template=", "--bare", u, origin)
	git(t, root, "clone", "-q", "--template=", origin, install)
	git(t, install, "-c", "advice.detachedHead=false", "checkout", "-q", "A")
	addPrecious(t, install)
	precious := filterPrefix(treeDigest(t, install), preciousRoots...)

	r := open(t, install)
	// Every failure point of A -> B (including folder <-> file swaps) is
	// undone cleanly.
	if n := undoAtEveryWrite(t, r, commitB); n != 8 {
		t.Errorf("exercised %d failure points, want 8 (3 removals, 5 writes)", n)
	}
	assertCheckedOut(t, r, origin, "B", commitB)
	for _, step := range []struct{ tag, commit string }{{"A", commitA}, {"B", commitB}, {"A", commitA}, {"B", commitB}} {
		if err := r.Checkout(context.Background(), step.commit); err != nil {
			t.Fatalf("Checkout(%s): %v", step.tag, err)
		}
		assertCheckedOut(t, r, origin, step.tag, step.commit)
		if d := diffDigests(precious, filterPrefix(treeDigest(t, install), preciousRoots...)); d != "" {
			t.Fatalf("after Checkout(%s) untracked or ignored files changed:\n%s", step.tag, d)
		}
	}
	// Folder to file is refused when the folder holds something untracked.
	if err := r.Checkout(context.Background(), commitA); err != nil {
		t.Fatal(err)
	}
	writeFile(t, install, "assets/deep/mine.txt", "mine", 0o644)
	unchanged(t, install, func() {
		err := r.Checkout(context.Background(), commitB)
		var lm *LocalModificationsError
		if !errors.As(err, &lm) || !errors.Is(err, ErrUntrackedInTheWay) || !reflect.DeepEqual(lm.Paths, []string{"assets/deep/mine.txt"}) {
			t.Fatalf("Checkout error = %v, want ErrUntrackedInTheWay for assets/deep/mine.txt", err)
		}
	})
}

// A linked work tree (git worktree add) keeps HEAD and index in
// .git/worktrees/<name> and objects in the main repository.
func TestLinkedWorktree(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	wt := filepath.Join(filepath.Dir(f.install), "linked")
	git(t, f.install, "worktree", "add", "-q", "--detach", wt, "v1.0.0")
	addReleaseToOrigin(t, f, "v1.3.0")
	r := open(t, wt)
	ctx := context.Background()
	if err := r.FetchTag(ctx, "origin", "v1.3.0"); err != nil {
		t.Fatalf("FetchTag: %v", err)
	}
	c, err := r.ResolveTag("v1.3.0")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Checkout(ctx, c); err != nil {
		t.Fatalf("Checkout: %v", err)
	}
	assertCheckedOut(t, r, f.origin, "v1.3.0", c)
	if h := git(t, f.install, "rev-parse", "HEAD"); h != f.commits["v1.0.0"] {
		t.Errorf("main work tree HEAD moved to %s", h)
	}
}

// TestCheckoutRemovesWhatAStoppedCheckoutStaged: a checkout killed between
// staging its files and renaming them leaves staged files beside their
// paths, and its marker; the next checkout (the resume, or the undo)
// removes them, and nothing else that merely looks alike. Without the
// marker no checkout was stopped, and the work tree is not searched.
func TestCheckoutRemovesWhatAStoppedCheckoutStaged(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := open(t, f.install)
	staged := filepath.Join(f.install, ".main.go"+stagedMark+"0123456789abcdef")
	lookalike := filepath.Join(f.install, ".notes"+stagedMark+"mine")
	for _, p := range []string{staged, lookalike} {
		if err := os.WriteFile(p, []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Not searched: no marker says a checkout stopped.
	if err := r.Checkout(context.Background(), f.commits["v1.1.0"]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(staged); err != nil {
		t.Fatalf("the work tree was searched without a marker: %v", err)
	}
	if _, err := os.Lstat(r.stagingMarker()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a finished checkout left its marker: %v", err)
	}
	// A stopped checkout's marker: the next one removes what it staged.
	if err := r.markStaging(); err != nil {
		t.Fatal(err)
	}
	if err := r.Checkout(context.Background(), f.commits["v1.0.0"]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(staged); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a staged file of a stopped checkout is still there: %v", err)
	}
	if _, err := os.Stat(lookalike); err != nil {
		t.Errorf("a file that only looks staged was removed: %v", err)
	}
	if _, err := os.Lstat(r.stagingMarker()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the marker is still there: %v", err)
	}
}

// failWrite makes the nth work tree write of r's checkouts fail with err.
func failWrite(r *Repo, n int, err error) {
	calls := 0
	r.beforeWrite = func(string) error {
		calls++
		if calls == n {
			return err
		}
		return nil
	}
}

// TestCheckoutWritesLooseAndPackedBlobs: blobs that are loose objects (a
// commit made in the install, not repacked) are read through go-git,
// packed ones through gitpack, in the same checkout; both land as git
// would write them.
func TestCheckoutWritesLooseAndPackedBlobs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := open(t, f.install)
	ctx := context.Background()
	// main.go's new content becomes a loose object; README.md and run.sh
	// go back to content the packs hold (v1.0.0's is checked out: take
	// v1.2.0's README.md and v1.1.0's run.sh).
	writeFile(t, f.install, "main.go", "package main // a local release\n", 0o644)
	git(t, f.install, "checkout", "-q", f.commits["v1.2.0"], "--", "README.md")
	git(t, f.install, "checkout", "-q", f.commits["v1.1.0"], "--", "run.sh")
	git(t, f.install, "commit", "-q", "-am", "local release")
	local := git(t, f.install, "rev-parse", "HEAD")
	blob := git(t, f.install, "rev-parse", "HEAD:main.go")
	if _, err := os.Stat(filepath.Join(f.install, ".git", "objects", blob[:2], blob[2:])); err != nil {
		t.Fatalf("main.go's blob is not a loose object: %v", err)
	}
	if err := r.Checkout(ctx, f.commits["v1.0.0"]); err != nil {
		t.Fatal(err)
	}
	if err := r.Checkout(ctx, local); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"main.go", "README.md", "run.sh"} {
		want := git(t, f.install, "cat-file", "blob", local+":"+p)
		got, err := os.ReadFile(filepath.Join(f.install, p))
		if err != nil || strings.TrimSpace(string(got)) != want {
			t.Errorf("%s = %q, %v; want %q", p, got, err, want)
		}
	}
	if s := git(t, f.install, "status", "--porcelain", "--untracked-files=no"); s != "" {
		t.Errorf("git status is not clean:\n%s", s)
	}
}
