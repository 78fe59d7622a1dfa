package config

import (
	"net/url"
	"strings"
	"time"

	"github.com/better-paas/updater/internal/signedsums"
)

// Defaults of selfUpdate.
const (
	DefaultSelfUpdateAPIURL   = "https://api.github.com"
	DefaultSelfUpdateInterval = 6 * time.Hour
	// MinSelfUpdateInterval bounds how often the daemon asks GitHub for
	// its own releases: an anonymous client has 60 requests an hour.
	MinSelfUpdateInterval = time.Minute
)

// SelfUpdate makes the daemon follow its own releases: every Interval it
// lists Repo's GitHub releases, and when a stable release is newer than
// the running updater it downloads the archive for this platform, checks
// SHA256SUMS against its minisign signature made with PublicKey, tries the
// new binary (`version`, then a read-only `plan`) and only then runs it in
// place of the old one, which comes back if the new one does not reconcile
// once. Never while an update of the app is in flight.
type SelfUpdate struct {
	// Enabled turns self-update on. Off by default: the updater is
	// replaced only by its package manager or an administrator.
	Enabled bool `json:"enabled,omitempty"`
	// Repo is the GitHub owner/name whose releases are the updater's
	// (better-paas/updater). Required when enabled.
	Repo string `json:"repo,omitempty"`
	// PublicKey is the minisign public key the releases' SHA256SUMS must be
	// signed with: the base64 key line ("RW...") or the whole .pub file.
	// Required when enabled; it is the only key trusted.
	PublicKey string `json:"publicKey,omitempty"`
	// APIURL is the GitHub API base; default https://api.github.com.
	APIURL string `json:"apiURL,omitempty"`
	// Interval is how often releases are checked; default 6h, at least 1m.
	// The first check runs once the daemon's first reconcile is done.
	Interval Duration `json:"interval,omitempty"`
}

// defaults fills in unset fields. Defaults apply whether or not the block
// is enabled, so `validate` output shows what enabling it would use.
func (s *SelfUpdate) defaults() {
	if !s.Enabled && s.Repo == "" && s.PublicKey == "" && s.APIURL == "" && s.Interval.Duration == 0 {
		// Left zero: omitzero keeps an unused block out of a written config.
		return
	}
	if s.APIURL == "" {
		s.APIURL = DefaultSelfUpdateAPIURL
	}
	if s.Interval.Duration == 0 {
		s.Interval.Duration = DefaultSelfUpdateInterval
	}
}

// Owner and Name split Repo ("owner/name"); both are "" when Repo is not
// of that form.
func (s SelfUpdate) Owner() string { o, _ := s.split(); return o }

// Name is the repository part of Repo; see Owner.
func (s SelfUpdate) Name() string { _, n := s.split(); return n }

func (s SelfUpdate) split() (owner, name string) {
	o, n, ok := strings.Cut(s.Repo, "/")
	if !ok || !validRepoPart(o) || !validRepoPart(n) {
		return "", ""
	}
	return o, n
}

// validRepoPart reports whether p is a GitHub owner or repository name:
// letters, digits, '-', '_' and '.', not "." or "..".
func validRepoPart(p string) bool {
	if p == "" || p == "." || p == ".." || len(p) > 100 {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// validate reports the problems of selfUpdate. A disabled block is still
// checked where it is set, so a mistake shows before it is enabled.
func (s *SelfUpdate) validate(bad func(field, format string, a ...any)) {
	switch {
	case s.Repo == "" && s.Enabled:
		bad("selfUpdate.repo", "required with selfUpdate.enabled: the GitHub owner/name of the updater's releases, e.g. better-paas/updater")
	case s.Repo != "" && s.Owner() == "":
		bad("selfUpdate.repo", "%q is not a GitHub owner/name such as better-paas/updater", s.Repo)
	}
	switch {
	case s.PublicKey == "" && s.Enabled:
		bad("selfUpdate.publicKey", "required with selfUpdate.enabled: the minisign public key the updater's releases are signed with (the \"RW...\" line of the release key's .pub file, published with the updater's README)")
	case s.PublicKey != "":
		if _, err := signedsums.ParsePublicKey(s.PublicKey); err != nil {
			bad("selfUpdate.publicKey", "is not a minisign public key (%v); paste the \"RW...\" line of the release key's .pub file, published with the updater's README", err)
		}
	}
	if a := s.APIURL; a != "" {
		if u, err := url.Parse(a); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			bad("selfUpdate.apiURL", "%q is not an http(s) URL without credentials, such as %s", a, DefaultSelfUpdateAPIURL)
		}
	}
	if d := s.Interval.Duration; d != 0 && d < MinSelfUpdateInterval {
		bad("selfUpdate.interval", "%s is shorter than %s; GitHub allows an anonymous client 60 requests an hour (the default is %s)", d, MinSelfUpdateInterval, DefaultSelfUpdateInterval)
	}
}
