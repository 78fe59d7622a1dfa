package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

var (
	// ErrTagExists means a release's tag is already in the repository.
	ErrTagExists = errors.New("tag already exists")
	// ErrUnknownTag means Clone was asked for a tag the origin does not have.
	ErrUnknownTag = errors.New("unknown tag")
)

// NewOrigin creates a bare repository at dir holding rels, oldest first:
// each release is applied on top of the previous one, committed on branch
// main and tagged with an annotated tag. It returns the absolute path of
// the repository, usable as a clone URL.
//
// dir must not exist or be empty; git creates missing parents. Commits and
// tags are reproducible: the same rels give the same commit ids. On error
// nothing is left at dir. Errors wrap ErrInvalidRelease, ErrTagExists,
// fs.ErrExist (dir not empty) or *GitError.
func NewOrigin(ctx context.Context, dir string, rels []Release) (string, error) {
	origin, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("cannot resolve origin path %s: %w", dir, err)
	}
	if len(rels) == 0 {
		return "", fmt.Errorf("cannot create origin %s: %w: no releases", origin, ErrInvalidRelease)
	}
	seen := map[string]bool{}
	for _, rel := range rels {
		if err := rel.validate(); err != nil {
			return "", err
		}
		if seen[rel.Tag] {
			return "", fmt.Errorf("cannot tag release %s twice: %w", rel.Tag, ErrTagExists)
		}
		seen[rel.Tag] = true
	}
	if entries, err := os.ReadDir(origin); err == nil && len(entries) > 0 {
		return "", fmt.Errorf("cannot create origin %s: folder is not empty: %w", origin, fs.ErrExist)
	}

	work, err := os.MkdirTemp("", "better-paas-sandbox-*")
	if err != nil {
		return "", fmt.Errorf("cannot create work tree: %w", err)
	}
	defer os.RemoveAll(work)

	if err := buildOrigin(ctx, origin, work, rels); err != nil {
		_ = os.RemoveAll(origin)
		return "", err
	}
	return origin, nil
}

func buildOrigin(ctx context.Context, origin, work string, rels []Release) error {
	if _, err := git(ctx, "", nil, "init", "--quiet", "--bare", origin); err != nil {
		return err
	}
	if _, err := git(ctx, work, nil, "init", "--quiet", "."); err != nil {
		return err
	}
	for i, rel := range rels {
		if err := commitRelease(ctx, work, rel, i); err != nil {
			return err
		}
	}
	_, err := git(ctx, work, nil, "push", "--quiet", origin, "refs/heads/main:refs/heads/main", "refs/tags/*:refs/tags/*")
	return err
}

// AddRelease pushes one more release to origin: applied on top of the tip
// of main (the release added last), committed, tagged and pushed with main.
// Its commit is dated one day after its parent, so it is reproducible too.
// Errors wrap ErrInvalidRelease, ErrTagExists or *GitError; origin is left
// as it was on error.
func AddRelease(ctx context.Context, origin string, rel Release) error {
	if err := rel.validate(); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "better-paas-sandbox-*")
	if err != nil {
		return fmt.Errorf("cannot create work tree: %w", err)
	}
	defer os.RemoveAll(work)

	if _, err := git(ctx, "", nil, "clone", "--quiet", "--branch", "main", origin, work); err != nil {
		return err
	}
	existing, err := git(ctx, work, nil, "tag", "--list", rel.Tag)
	if err != nil {
		return err
	}
	if existing != "" {
		return fmt.Errorf("cannot add release %s to %s: %w", rel.Tag, origin, ErrTagExists)
	}
	count, err := git(ctx, work, nil, "rev-list", "--count", "HEAD")
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(count)
	if err != nil {
		return fmt.Errorf("cannot count commits of %s: %w", origin, err)
	}
	if err := commitRelease(ctx, work, rel, n); err != nil {
		return err
	}
	_, err = git(ctx, work, nil, "push", "--quiet", "--atomic", "origin",
		"refs/heads/main:refs/heads/main", "refs/tags/"+rel.Tag+":refs/tags/"+rel.Tag)
	return err
}

// commitRelease applies rel to the work tree and commits it as the n-th
// commit of the history.
func commitRelease(ctx context.Context, work string, rel Release, n int) error {
	if err := rel.apply(work); err != nil {
		return err
	}
	msg := "Release " + rel.Tag
	env := dateEnv(n)
	if _, err := git(ctx, work, env, "add", "--all"); err != nil {
		return err
	}
	// --allow-empty: a release that changes nothing still gets its own commit.
	if _, err := git(ctx, work, env, "commit", "--quiet", "--allow-empty", "--message", msg); err != nil {
		return err
	}
	// The tag's message carries the release's notes, as a maintainer's
	// `git tag -a` would: what the git-tags source shows as release notes.
	_, err := git(ctx, work, env, "tag", "--annotate", "--message", msg+releaseNotes(work, rel.Tag), rel.Tag)
	return err
}

// releaseNotes returns "\n\n" and the section "## tag" of the work tree's
// CHANGELOG.md, without its heading; "" when there is none.
func releaseNotes(work, tag string) string {
	b, err := os.ReadFile(filepath.Join(work, "CHANGELOG.md"))
	if err != nil {
		return ""
	}
	_, section, found := strings.Cut(string(b), "\n## "+tag+"\n")
	if !found {
		return ""
	}
	section, _, _ = strings.Cut(section, "\n## ")
	if section = strings.TrimSpace(section); section == "" {
		return ""
	}
	return "\n\n" + section
}

// Clone installs tag from origin into installDir the way an installer
// would: a full clone, then a detached checkout of the tag. installDir must
// not exist or be empty. The clone's remote "origin" points at origin, so a
// later fetch sees releases added with AddRelease. Errors wrap
// ErrUnknownTag (nothing is created) or *GitError.
func Clone(ctx context.Context, origin, installDir, tag string) error {
	refs, err := git(ctx, "", nil, "ls-remote", "--tags", origin, "refs/tags/"+tag)
	if err != nil {
		return err
	}
	if !hasRef(refs, "refs/tags/"+tag) {
		return fmt.Errorf("cannot clone %s at %s: %w: the tag is not in the origin", origin, tag, ErrUnknownTag)
	}
	dir, err := filepath.Abs(installDir)
	if err != nil {
		return fmt.Errorf("cannot resolve install path %s: %w", installDir, err)
	}
	// --no-hardlinks: the install must not share object files with the origin.
	if _, err := git(ctx, "", nil, "clone", "--quiet", "--no-checkout", "--no-hardlinks", origin, dir); err != nil {
		return err
	}
	_, err = git(ctx, dir, nil, "checkout", "--quiet", "--detach", "refs/tags/"+tag)
	return err
}

// hasRef reports whether ls-remote output lists ref exactly.
func hasRef(lsRemote, ref string) bool {
	for _, line := range strings.Split(lsRemote, "\n") {
		if _, name, ok := strings.Cut(line, "\t"); ok && name == ref {
			return true
		}
	}
	return false
}
