package preflight

import (
	"github.com/better-paas/updater/internal/gitrepo"

	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrRemoteMismatch means the checkout's remote points somewhere other
// than the URL the configuration expects, so a fetch would get releases
// from the wrong repository.
var ErrRemoteMismatch = errors.New("remote url does not match")

// remoteCheck reports false when there is nothing to check.
func remoteCheck(in Input) (Check, bool) {
	if in.Remote == "" {
		if in.WantRemoteURL == "" {
			return Check{}, false
		}
		return Check{Name: "remote", Err: errors.New("cannot check remote url: no remote name given")}, true
	}
	c := Check{Name: "remote " + in.Remote}
	if in.RemoteURL == nil {
		c.Err = fmt.Errorf("cannot check remote %q: no RemoteURL function given", in.Remote)
		return c, true
	}
	got, err := in.RemoteURL(in.Remote)
	if err != nil {
		hint := "<url>"
		if in.WantRemoteURL != "" {
			hint = gitrepo.RedactURL(in.WantRemoteURL)
		}
		c.Err = fmt.Errorf("cannot check remote %q of %s (add it with `git -C %s remote add %s %s` or fix updater.yaml's remote): %w",
			in.Remote, in.InstallDir, in.InstallDir, in.Remote, hint, err)
		return c, true
	}
	if in.WantRemoteURL != "" && normalizeURL(got) != normalizeURL(in.WantRemoteURL) {
		want := gitrepo.RedactURL(in.WantRemoteURL)
		c.Err = fmt.Errorf("cannot use remote %q of %s: it points to %s, want %s; run `git -C %s remote set-url %s %s` or fix updater.yaml: %w",
			in.Remote, in.InstallDir, gitrepo.RedactURL(got), want, in.InstallDir, in.Remote, want, ErrRemoteMismatch)
	}
	return c, true
}

// normalizeURL drops what does not change which repository a URL names:
// http(s) credentials (a token may be embedded in the checkout's URL but
// not in the configuration), a trailing slash and a ".git" suffix.
func normalizeURL(raw string) string {
	s := strings.TrimSpace(raw)
	if u, err := url.Parse(s); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.User != nil {
		u.User = nil
		s = u.String()
	}
	s = strings.TrimSuffix(s, "/")
	return strings.TrimSuffix(s, ".git")
}
