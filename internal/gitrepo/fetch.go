package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/better-paas/updater/internal/atomicfile"
)

// Tag is a tag advertised by a remote. Commit is the peeled object: for an
// annotated tag the commit it points at, not the tag object.
type Tag struct {
	Name   string // without refs/tags/
	Commit string // full hash
}

// FetchTag fetches exactly refs/tags/<tag> from the configured URL of
// remote into refs/tags/<tag>, with full history (never shallow) and
// without following other tags. A tag that moved upstream is updated
// locally. It is idempotent: a tag already present and identical is
// success.
//
// Errors: ErrTagNotFound when the remote has no such tag;
// ErrRemoteNotFound when remote is not configured; the context's error
// when ctx is cancelled or expires; otherwise a transport error (retry).
func (r *Repo) FetchTag(ctx context.Context, remote, tag string) error {
	name, err := tagRefName(tag)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cannot fetch tag %s from %s: %w", tag, remote, err)
	}
	rawURL, err := r.RemoteURL(remote)
	if err != nil {
		return err
	}
	err = r.repo.FetchContext(ctx, &gogit.FetchOptions{
		RemoteName: remote,
		RefSpecs:   []config.RefSpec{config.RefSpec("+" + name.String() + ":" + name.String())},
		// NoTags: the default (TagFollowing) would also download every
		// tag reachable from the fetched history.
		Tags: gogit.NoTags,
	})
	switch {
	case err == nil, errors.Is(err, gogit.NoErrAlreadyUpToDate):
	case ctx.Err() != nil:
		// go-git reports cancellation in several shapes (url.Error,
		// io errors); the context's own error is the one callers test.
		return fmt.Errorf("cannot fetch tag %s from %s: %w", tag, remote, ctx.Err())
	case errors.Is(err, gogit.NoMatchingRefSpecError{}):
		return fmt.Errorf("cannot fetch tag %s from %s: %w on the remote", tag, remote, ErrTagNotFound)
	default:
		return fmt.Errorf("cannot fetch tag %s from %s: %w", tag, remote, redact(err, rawURL))
	}
	if _, err := r.ResolveTag(tag); err != nil {
		return fmt.Errorf("cannot fetch tag %s from %s: %w", tag, remote, err)
	}
	return r.syncFetched(name)
}

// syncFetched makes a fetch durable. go-git writes pack files and the tag
// ref without fsync; after a power loss the ref could survive while the
// objects it names do not, and the next FetchTag would then report
// "already up-to-date" and never repair it.
func (r *Repo) syncFetched(name plumbing.ReferenceName) error {
	packDir := filepath.Join(r.commonDir(), "objects", "pack")
	entries, err := os.ReadDir(packDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot list %s: %w", packDir, err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() {
			if err := syncFile(filepath.Join(packDir, e.Name())); err != nil {
				return err
			}
		}
	}
	if err == nil {
		if err := atomicfile.SyncDir(packDir); err != nil {
			return err
		}
	}
	// The ref is a loose file after a fetch; it may also live only in
	// packed-refs when the fetch was a no-op.
	refPath := filepath.Join(r.commonDir(), filepath.FromSlash(name.String()))
	for _, p := range []string{refPath, filepath.Join(r.commonDir(), "packed-refs")} {
		if err := syncFile(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return atomicfile.SyncDir(filepath.Dir(refPath))
}

// commonDir is the folder holding objects and refs: .git for a normal
// checkout, the main repository's .git for a linked work tree.
func (r *Repo) commonDir() string {
	b, err := os.ReadFile(filepath.Join(r.gitDir, "commondir"))
	if err != nil {
		return r.gitDir
	}
	p := strings.TrimSpace(string(b))
	if !filepath.IsAbs(p) {
		p = filepath.Join(r.gitDir, p)
	}
	return filepath.Clean(p)
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cannot sync %s: %w", path, err)
	}
	return nil
}

// ListRemoteTags lists the tags of the repository at url (like
// git ls-remote --tags), without a local repository. Annotated tags are
// resolved to the commit they point at using the peeled ("^{}") entries
// the server advertises. Branches and other refs are ignored. The result
// is sorted by name; an empty remote gives an empty list.
//
// Errors: the context's error when ctx is cancelled or expires; otherwise
// a transport error (unreachable, not found, authentication), worth a
// retry. Error messages carry the URL without credentials.
func ListRemoteTags(ctx context.Context, rawURL string) ([]Tag, error) {
	safe := RedactURL(rawURL)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cannot list tags of %s: %w", safe, err)
	}
	rem := gogit.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{rawURL}})
	refs, err := rem.ListContext(ctx, &gogit.ListOptions{PeelingOption: gogit.AppendPeeled})
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil, fmt.Errorf("cannot list tags of %s: %w", safe, ctx.Err())
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return nil, nil
	default:
		return nil, fmt.Errorf("cannot list tags of %s: %w", safe, redact(err, rawURL))
	}
	direct := map[string]string{}
	peeled := map[string]string{}
	for _, ref := range refs {
		n := ref.Name().String()
		if !strings.HasPrefix(n, "refs/tags/") || ref.Type() != plumbing.HashReference {
			continue
		}
		short := strings.TrimPrefix(n, "refs/tags/")
		if base, ok := strings.CutSuffix(short, "^{}"); ok {
			peeled[base] = ref.Hash().String()
			continue
		}
		direct[short] = ref.Hash().String()
	}
	tags := make([]Tag, 0, len(direct))
	for name, h := range direct {
		if p, ok := peeled[name]; ok {
			h = p
		}
		tags = append(tags, Tag{Name: name, Commit: h})
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i].Name < tags[j].Name })
	return tags, nil
}

// RedactURL returns rawURL with its credentials replaced by "xxxxx", so it
// can appear in logs, status files and error messages. For http(s) the
// whole user part is hidden, because tokens are often passed as the user
// name (https://<token>@host/repo.git); for other schemes only the
// password is. Strings that are not URLs with a scheme (scp-like
// "git@host:repo", local paths) are returned unchanged: they carry no
// secret.
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil || u.Scheme == "" {
		return rawURL
	}
	if u.Scheme == "http" || u.Scheme == "https" {
		u.User = url.User("xxxxx")
		return u.String()
	}
	return u.Redacted()
}

// redactedError hides the credentials of a URL in an error message coming
// from a transport, which may quote the URL, while keeping the chain for
// errors.Is.
type redactedError struct {
	err    error
	secret string
}

func redact(err error, rawURL string) error {
	u, perr := url.Parse(rawURL)
	if perr != nil || u.User == nil || u.User.String() == "" {
		return err
	}
	return &redactedError{err: err, secret: u.User.String()}
}

func (e *redactedError) Error() string {
	return strings.ReplaceAll(e.err.Error(), e.secret, "xxxxx")
}

func (e *redactedError) Unwrap() error { return e.err }
