package config

import (
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Defaults and bounds of desiredFrom.git.
const (
	DefaultFleetBranch   = "main"
	DefaultFleetInterval = 5 * time.Minute
	// MinFleetInterval bounds how often every host of a fleet asks the
	// fleet repo: a hundred hosts at 10 s is already ten fetches a second.
	MinFleetInterval    = 10 * time.Second
	DefaultFleetTimeout = 2 * time.Minute
)

// DefaultFleetPaths are the path templates tried when desiredFrom.git.paths
// is unset: this host's file, its group's (skipped without a group), the
// fleet's.
var DefaultFleetPaths = []string{"hosts/{hostname}/desired.yaml", "groups/{group}/desired.yaml", "fleet/desired.yaml"}

// DesiredFrom says where desired.yaml comes from when something other than
// a person or a configuration tool writes it on the host.
type DesiredFrom struct {
	// Git makes the daemon write desired.yaml from a fleet repo (GitOps);
	// nil: desired.yaml is written on the host only.
	Git *GitSource `json:"git,omitempty"`
}

// GitSource is a fleet repo that pins hosts. Every Interval, and when the
// API's POST /api/v1/fleet/sync asks, the daemon fetches Branch into
// <stateDir>/fleet/repo (incrementally, never shallow), takes the first
// of Paths that exists in the branch's commit, checks the commit's
// signature against SigningKeys, applies the file's rollout, and writes
// it as desired.yaml when it asks for something else. Anything wrong
// changes nothing on the host; status.yaml's fleet block says what.
type GitSource struct {
	// URL is the fleet repo: https://, ssh://, file:// or a local path.
	// Credentials in an https URL (https://user:token@host/...) are used
	// and never written to status or logs; ssh:// authenticates with
	// SSH.KeyFile, or without it through the daemon's SSH agent
	// (SSH_AUTH_SOCK); file:// and local paths run git's git-upload-pack,
	// so they need git installed. Required.
	URL string `json:"url"`
	// SSH is how an ssh:// URL authenticates without an agent (a systemd
	// service has none): a deploy key, and the server's host keys.
	SSH *SSHAuth `json:"ssh,omitempty"`
	// Branch is the branch that pins the fleet; default main.
	Branch string `json:"branch,omitempty"`
	// Paths are the files tried in order, slash-separated, relative to
	// the repo's root; {hostname}, {group} and {hostID} are replaced with
	// the values below, and a template naming {group} is skipped when
	// Group is "". Default DefaultFleetPaths.
	Paths []string `json:"paths,omitempty"`
	// Interval is how often the repo is fetched; default 5m, at least 10s.
	Interval Duration `json:"interval,omitempty"`
	// Timeout bounds one sync (fetch included); default 2m.
	Timeout Duration `json:"timeout,omitempty"`
	// SigningKeys, when set, are the only keys a fleet commit may be
	// signed with; an unsigned commit, or one signed by another key, is
	// refused. Each entry is an OpenPGP armored public key (block), an
	// SSH public key line ("ssh-ed25519 AAAA... comment"), or the path of
	// a file holding either (relative to updater.yaml's folder; an SSH
	// file may hold several lines, authorized_keys or allowed_signers
	// style). Empty: commits are not checked.
	SigningKeys []string `json:"signingKeys,omitempty"`
	// Hostname is this host's name in the fleet: canaries are named by it
	// and {hostname} is replaced with it. Default: os.Hostname().
	Hostname string `json:"hostname,omitempty"`
	// HostID places the host in rollouts (its cohort is a hash of it), and
	// replaces {hostID}. Default: Hostname. Set it to something that
	// outlives a rename (/etc/machine-id's content) to keep the cohort.
	HostID string `json:"hostID,omitempty"`
	// Group is this host's group, replacing {group}; default none.
	Group string `json:"group,omitempty"`
}

// SSHAuth is the key an ssh:// fleet repo is fetched with, and the host
// keys its server may present.
type SSHAuth struct {
	// KeyFile is a private key without a passphrase (the daemon cannot
	// type one), readable by its owner only, like ssh requires: a
	// read-only deploy key of the fleet repo. Relative to updater.yaml's
	// folder. Required in an ssh block.
	KeyFile string `json:"keyFile"`
	// KnownHostsFile lists the server's host keys (known_hosts format);
	// a server presenting another key is refused. Default: SSH_KNOWN_HOSTS,
	// else ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts. Relative to
	// updater.yaml's folder.
	KnownHostsFile string `json:"knownHostsFile,omitempty"`
}

// IsSSHURL reports whether u is fetched over SSH: ssh:// or scp-like
// (user@host:path).
func IsSSHURL(u string) bool {
	if p, err := url.Parse(u); err == nil && p.Scheme != "" && len(p.Scheme) > 1 {
		return p.Scheme == "ssh"
	}
	at, colon := strings.Index(u, "@"), strings.Index(u, ":")
	return at > 0 && colon > at && !strings.Contains(u[:colon], "/")
}

// defaults fills in desiredFrom.git; base (updater.yaml's folder)
// resolves relative key files. Config.Default calls it.
func (d *DesiredFrom) defaults(base string) {
	g := d.Git
	if g == nil {
		return
	}
	if g.Branch == "" {
		g.Branch = DefaultFleetBranch
	}
	if len(g.Paths) == 0 {
		g.Paths = append([]string(nil), DefaultFleetPaths...)
	}
	if g.Interval.Duration == 0 {
		g.Interval.Duration = DefaultFleetInterval
	}
	if g.Timeout.Duration == 0 {
		g.Timeout.Duration = DefaultFleetTimeout
	}
	if g.Hostname == "" {
		if h, err := os.Hostname(); err == nil {
			g.Hostname = h
		}
	}
	if g.HostID == "" {
		g.HostID = g.Hostname
	}
	if s := g.SSH; s != nil && base != "" {
		for _, f := range []*string{&s.KeyFile, &s.KnownHostsFile} {
			if *f != "" && !filepath.IsAbs(*f) {
				*f = filepath.Join(base, *f)
			}
		}
	}
	for i, k := range g.SigningKeys {
		if IsInlineSigningKey(k) || strings.TrimSpace(k) == "" || filepath.IsAbs(k) || base == "" {
			continue
		}
		g.SigningKeys[i] = filepath.Join(base, k)
	}
}

// IsInlineSigningKey reports whether a signingKeys entry is a key itself
// (an armored OpenPGP block or an SSH public key line), not a file's path.
func IsInlineSigningKey(k string) bool {
	k = strings.TrimSpace(k)
	return strings.HasPrefix(k, "-----BEGIN PGP PUBLIC KEY BLOCK-----") ||
		strings.HasPrefix(k, "ssh-") || strings.HasPrefix(k, "ecdsa-sha2-") || strings.HasPrefix(k, "sk-")
}

// fleetName is what a hostname, host id or group may be: it becomes one
// segment of a path in the fleet repo.
var fleetName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)

// validate reports the problems of desiredFrom.git; Config.Validate
// calls it. Key files are read by the fleet sync (internal/fleet), which
// refuses to start without them.
func (d *DesiredFrom) validate(bad func(field, format string, a ...any)) {
	g := d.Git
	if g == nil {
		return
	}
	const f = "desiredFrom.git."
	if g.URL == "" {
		bad(f+"url", "required: the fleet repo to pin this host from, e.g. https://git.example.com/ops/fleet.git")
	} else if u, err := url.Parse(g.URL); err == nil && u.Scheme != "" && len(u.Scheme) > 1 {
		switch u.Scheme {
		case "https", "http", "ssh", "file", "git":
		default:
			bad(f+"url", "scheme %q is not supported; use https://, ssh://, file:// or a local path", u.Scheme)
		}
	}
	if strings.HasPrefix(g.Branch, "-") || strings.ContainsAny(g.Branch, " ~^:?*[\\") || strings.Contains(g.Branch, "..") || strings.HasPrefix(g.Branch, "refs/") {
		bad(f+"branch", "%q is not a branch name (write it without refs/heads/)", g.Branch)
	}
	for name, v := range map[string]string{"hostname": g.Hostname, "hostID": g.HostID, "group": g.Group} {
		if v == "" && name != "group" {
			bad(f+name, "is empty and cannot be derived; set it")
		} else if v != "" && !fleetName.MatchString(v) {
			bad(f+name, "%q must be letters, digits, '.', '_' and '-' (it becomes one folder name of a path in the fleet repo)", v)
		}
	}
	for i, p := range g.Paths {
		field := fmt.Sprintf("%spaths[%d]", f, i)
		probe := strings.NewReplacer("{hostname}", "h", "{group}", "g", "{hostID}", "i").Replace(p)
		switch {
		case p == "":
			bad(field, "is empty; remove it or name a file such as %s", DefaultFleetPaths[0])
		case strings.ContainsAny(probe, "{}"):
			bad(field, "%q has an unknown placeholder; use {hostname}, {group} or {hostID}", p)
		case path.IsAbs(probe) || path.Clean(probe) != probe || probe == ".." || strings.HasPrefix(probe, "../") || strings.Contains(probe, "\\"):
			bad(field, "%q must be a clean slash-separated path relative to the repo's root", p)
		}
	}
	if d := g.Interval.Duration; d < MinFleetInterval {
		bad(f+"interval", "%s is shorter than %s (the default is %s): every host of the fleet fetches this often", d, MinFleetInterval, DefaultFleetInterval)
	}
	if g.Timeout.Duration < 0 {
		bad(f+"timeout", "must not be negative")
	}
	if s := g.SSH; s != nil {
		switch {
		case g.URL != "" && !IsSSHURL(g.URL):
			bad(f+"ssh", "is set but url %q is not fetched over SSH; remove the ssh block, or use an ssh://git@host/path URL", g.URL)
		case s.KeyFile == "":
			bad(f+"ssh.keyFile", "required in an ssh block: the path of a private key without a passphrase (a read-only deploy key)")
		case !filepath.IsAbs(s.KeyFile):
			bad(f+"ssh.keyFile", "%q is not an absolute path (a relative path needs updater.yaml's folder)", s.KeyFile)
		}
		if s.KnownHostsFile != "" && !filepath.IsAbs(s.KnownHostsFile) {
			bad(f+"ssh.knownHostsFile", "%q is not an absolute path (a relative path needs updater.yaml's folder)", s.KnownHostsFile)
		}
	}
	for i, k := range g.SigningKeys {
		field := fmt.Sprintf("%ssigningKeys[%d]", f, i)
		switch {
		case strings.TrimSpace(k) == "":
			bad(field, "is empty; remove it, or give an armored OpenPGP public key, an SSH public key line or a key file's path")
		case !IsInlineSigningKey(k) && !filepath.IsAbs(k):
			bad(field, "%q is neither a key nor an absolute path (a relative path needs updater.yaml's folder)", k)
		}
	}
}
