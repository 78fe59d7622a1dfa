package updaterepo

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

var (
	// ErrInvalid means a value does not name a repository: a malformed URL,
	// an unsupported scheme, or an owner or name that breaks GitHub's
	// naming rules. A human must fix the value; the error says which one.
	ErrInvalid = errors.New("not a valid repository")

	// ErrNotHosted means the value names a local repository (a path or a
	// file:// URL). Only returned for the git remote origin by Resolve: the
	// caller then reads the checkout's git tags instead of a release API.
	ErrNotHosted = errors.New("not a hosted repository")

	// ErrNoRepo means none of the three sources is set. The error lists the
	// three ways to set one.
	ErrNoRepo = errors.New("no update repository configured")
)

// GitHubHost is the host of public GitHub. Parse gives it to the short
// forms "owner/name" and normalises "www.github.com" to it.
const GitHubHost = "github.com"

// Length limits of GitHub's naming rules.
const (
	maxOwnerLen = 39
	maxNameLen  = 100
	maxHostLen  = 253
)

// Repo names a hosted repository. It never holds credentials.
type Repo struct {
	// Host is "github.com", a GitHub Enterprise host or another git host
	// ("gitlab.example.com"), lower-case; it keeps a non-default port of an
	// http(s) URL ("git.example.com:8443") because the web and API live
	// there, and drops ssh and git ports, which say nothing about them.
	// Parse never leaves it empty; "" (a hand-built Repo) means unknown.
	Host string
	// Owner is the user or organisation, as written (GitHub ignores case).
	Owner string
	// Name is the repository name without ".git".
	Name string
	// GitHubEnterprise is set by Resolver when Host is one of its
	// EnterpriseHosts; Parse alone cannot know it.
	GitHubEnterprise bool
}

// String returns "owner/name" for github.com (and for an unknown host) and
// "host/owner/name" otherwise. Parse accepts both forms back, so String is
// what Resolver.Store persists.
func (r Repo) String() string {
	if r.Host == "" || r.Host == GitHubHost {
		return r.Owner + "/" + r.Name
	}
	return r.Host + "/" + r.Owner + "/" + r.Name
}

// IsGitHub reports whether the GitHub releases API serves this repository:
// its host is github.com (or www.github.com) or it was marked as GitHub
// Enterprise by a Resolver. An unknown host is not GitHub; for any host
// that is not, the caller reads git tags instead.
func (r Repo) IsGitHub() bool {
	return r.Host == GitHubHost || r.Host == "www."+GitHubHost || r.GitHubEnterprise
}

// ParseError is the error of Parse. Input is the parsed value with any
// credentials, query and fragment removed, so the error is safe to log.
// Kind is ErrInvalid or ErrNotHosted; errors.Is matches it.
type ParseError struct {
	Input  string
	Kind   error
	Reason string
}

// Error says what was wrong and what a valid value looks like.
func (e *ParseError) Error() string {
	return fmt.Sprintf("cannot parse repository %q: %s: %s", e.Input, e.Kind, e.Reason)
}

// Unwrap returns Kind so errors.Is(err, ErrInvalid) works.
func (e *ParseError) Unwrap() error { return e.Kind }

// wantForms ends every "malformed" reason so a human sees what is accepted.
const wantForms = "want OWNER/NAME, HOST/OWNER/NAME or a git URL such as https://github.com/OWNER/NAME.git or git@github.com:OWNER/NAME.git"

// Parse reads a repository from any form people write:
//
//	owner/name                      host/owner/name
//	https://github.com/o/n(.git)(/) http://host:8080/o/n
//	https://user:token@host/o/n.git git://host/o/n.git
//	ssh://git@host(:port)/o/n.git   git@github.com:o/n.git, github.com:o/n
//
// Surrounding white space is ignored. The short forms without a host mean
// github.com. Credentials are dropped. The error is a *ParseError: Kind
// ErrNotHosted for a path or file:// URL (a local remote), ErrInvalid for
// everything else that is not a repository, including an owner or name that
// GitHub would refuse: an owner is 1-39 letters, digits and single hyphens,
// not leading or trailing; a name is 1-100 of [A-Za-z0-9._-], not "." or
// "..". On other hosts (GitLab, Gitea) an owner may also hold '.' and '_'
// and be up to 100 long, since their rules allow it; it still must not
// start or end with '-' or '.'. Subgroups (group/sub/project) are refused.
func Parse(s string) (Repo, error) {
	in := strings.TrimSpace(s)
	fail := func(kind error, format string, args ...any) (Repo, error) {
		return Repo{}, &ParseError{Input: redact(in), Kind: kind, Reason: fmt.Sprintf(format, args...)}
	}
	if in == "" {
		return fail(ErrInvalid, "the value is empty; %s", wantForms)
	}
	if i := strings.IndexFunc(in, func(r rune) bool { return r <= ' ' || r == 0x7f }); i >= 0 {
		return fail(ErrInvalid, "it contains white space or a control character; %s", wantForms)
	}
	if i := strings.Index(in, "://"); i >= 0 {
		return parseURL(in, i, fail)
	}
	if isLocalPath(in) {
		return fail(ErrNotHosted, "it is a local path, not a hosted repository")
	}
	rest, hadUser := in, false
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest, hadUser = rest[at+1:], true
	}
	// git's rule: a colon before any slash makes it scp-like host:path.
	if colon := strings.Index(rest, ":"); colon >= 0 && !strings.Contains(rest[:colon], "/") {
		host, path := rest[:colon], rest[colon+1:]
		// "host:8443/owner/name" is String's form of a host with a port;
		// as scp it would be the three-part path "8443/owner/name".
		if slash := strings.Index(path, "/"); !hadUser && slash > 0 && isDigits(path[:slash]) &&
			strings.Count(strings.Trim(path[slash+1:], "/"), "/") == 1 {
			return finish(host, path[:slash], true, path[slash+1:], fail)
		}
		return finish(host, "", false, strings.TrimPrefix(path, "/"), fail)
	}
	if hadUser {
		return fail(ErrInvalid, "a user@ prefix needs the scp-like form USER@HOST:OWNER/NAME; %s", wantForms)
	}
	parts := strings.Split(strings.TrimRight(in, "/"), "/")
	for _, p := range parts {
		if p == "" {
			return fail(ErrInvalid, "it has an empty part between slashes; %s", wantForms)
		}
	}
	switch len(parts) {
	case 2:
		return finish(GitHubHost, "", false, in, fail)
	case 3:
		if !looksLikeHost(parts[0]) {
			return fail(ErrInvalid, "%q is not a host name (it has no dot); %s", parts[0], wantForms)
		}
		return finish(parts[0], "", false, strings.Join(parts[1:], "/"), fail)
	default:
		return fail(ErrInvalid, "it has %d part(s) separated by /; %s", len(parts), wantForms)
	}
}

type failFunc func(kind error, format string, args ...any) (Repo, error)

// parseURL handles "scheme://[user[:password]@]host[:port]/owner/name".
func parseURL(in string, sep int, fail failFunc) (Repo, error) {
	scheme := strings.ToLower(in[:sep])
	switch scheme {
	case "file":
		return fail(ErrNotHosted, "a file:// URL names a local repository, not a hosted one")
	case "http", "https", "ssh", "git", "git+ssh", "ssh+git":
	default:
		return fail(ErrInvalid, "unsupported URL scheme %q; use https, http, ssh or git", scheme)
	}
	rest := in[sep+3:]
	// The last '@' ends the user info even when a password holds '/', '?'
	// or '#', so a malformed credential is dropped rather than parsed as a
	// host or path.
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = rest[at+1:]
	}
	if strings.ContainsAny(rest, "?#") {
		return fail(ErrInvalid, "a repository URL has no query or fragment; %s", wantForms)
	}
	authority, path := rest, ""
	if slash := strings.Index(rest, "/"); slash >= 0 {
		authority, path = rest[:slash], rest[slash+1:]
	}
	host, port := authority, ""
	if colon := strings.LastIndex(authority, ":"); colon >= 0 {
		host, port = authority[:colon], authority[colon+1:]
	}
	keepPort := scheme == "http" || scheme == "https"
	if port != "" && keepPort && ((scheme == "https" && port == "443") || (scheme == "http" && port == "80")) {
		keepPort = false
	}
	return finish(host, port, keepPort, path, fail)
}

// finish validates and normalises the host, port and "owner/name" path.
func finish(host, port string, keepPort bool, path string, fail failFunc) (Repo, error) {
	host = strings.ToLower(host)
	if host == "" {
		return fail(ErrInvalid, "the host is empty; %s", wantForms)
	}
	if reason := checkHost(host); reason != "" {
		return fail(ErrInvalid, "host %q %s", host, reason)
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || !isDigits(port) || n < 1 || n > 65535 {
			return fail(ErrInvalid, "port %q is not a number from 1 to 65535", port)
		}
		if keepPort && port != "443" {
			host += ":" + port
		}
	}
	if host == "www."+GitHubHost {
		host = GitHubHost
	}
	path = strings.TrimRight(path, "/")
	path = strings.TrimSuffix(path, ".git")
	if path == "" {
		return fail(ErrInvalid, "it names no OWNER/NAME; %s", wantForms)
	}
	parts := strings.Split(path, "/")
	if len(parts) != 2 {
		for _, p := range parts {
			if p == "" {
				return fail(ErrInvalid, "the path %q has an empty part between slashes; want exactly OWNER/NAME", path)
			}
		}
		return fail(ErrInvalid, "the path %q has %d part(s); want exactly OWNER/NAME (subgroups and sub-pages are not repositories)", path, len(parts))
	}
	owner, name := parts[0], parts[1]
	if reason := checkOwner(owner, host == GitHubHost); reason != "" {
		return fail(ErrInvalid, "owner %q %s", owner, reason)
	}
	if reason := checkName(name); reason != "" {
		return fail(ErrInvalid, "name %q %s", name, reason)
	}
	return Repo{Host: host, Owner: owner, Name: name}, nil
}

// checkOwner applies GitHub's user and organisation rule on github.com and
// a looser, GitLab-compatible rule elsewhere. It returns "" when valid.
func checkOwner(owner string, github bool) string {
	if owner == "" {
		return "is empty"
	}
	if !github {
		if len(owner) > maxNameLen {
			return fmt.Sprintf("is longer than %d characters", maxNameLen)
		}
		if !onlyNameChars(owner) {
			return "may contain only letters, digits, '.', '_' and '-'"
		}
		if strings.HasPrefix(owner, "-") || strings.HasPrefix(owner, ".") ||
			strings.HasSuffix(owner, "-") || strings.HasSuffix(owner, ".") {
			return "must not start or end with '-' or '.'"
		}
		return ""
	}
	if len(owner) > maxOwnerLen {
		return fmt.Sprintf("is longer than %d characters", maxOwnerLen)
	}
	for _, c := range owner {
		if !isAlnum(c) && c != '-' {
			return "may contain only letters, digits and single hyphens"
		}
	}
	if strings.HasPrefix(owner, "-") || strings.HasSuffix(owner, "-") {
		return "must not start or end with a hyphen"
	}
	if strings.Contains(owner, "--") {
		return "must not contain two hyphens in a row"
	}
	return ""
}

// checkName applies GitHub's repository name rule. It returns "" when valid.
func checkName(name string) string {
	switch {
	case name == "":
		return "is empty"
	case len(name) > maxNameLen:
		return fmt.Sprintf("is longer than %d characters", maxNameLen)
	case name == "." || name == "..":
		return "is reserved"
	case !onlyNameChars(name):
		return "may contain only letters, digits, '.', '_' and '-'"
	}
	return ""
}

// checkHost accepts DNS names and IPv4 addresses (labels of [a-z0-9-], not
// starting or ending with '-'). It returns "" when valid.
func checkHost(host string) string {
	if len(host) > maxHostLen {
		return fmt.Sprintf("is longer than %d characters", maxHostLen)
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" {
			return "has an empty label"
		}
		for _, c := range label {
			if !isAlnum(c) && c != '-' {
				return "may contain only letters, digits, '-' and '.'"
			}
		}
		if strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return "has a label that starts or ends with '-'"
		}
	}
	return ""
}

// looksLikeHost tells "host/owner/name" from a path of three names: a host
// has a dot or a port, or is localhost.
func looksLikeHost(s string) bool {
	return strings.Contains(s, ".") || strings.Contains(s, ":") || strings.EqualFold(s, "localhost")
}

// isLocalPath follows git: absolute, relative and home paths, Windows
// paths and anything with a backslash are local repositories.
func isLocalPath(s string) bool {
	switch {
	case s == "." || s == "..",
		strings.HasPrefix(s, "/"),
		strings.HasPrefix(s, "./"),
		strings.HasPrefix(s, "../"),
		strings.HasPrefix(s, "~"),
		strings.Contains(s, `\`):
		return true
	}
	// C:/repo or C:\repo
	return len(s) >= 3 && isLetter(rune(s[0])) && s[1] == ':' && (s[2] == '/' || s[2] == '\\')
}

// redact removes user info (everything up to the last '@'), query and
// fragment, so an error can quote the value without leaking a token.
// Cutting at the last '@' over-redacts rather than leaks when a password
// holds '/', '?' or '#'.
func redact(s string) string {
	if sep := strings.Index(s, "://"); sep >= 0 {
		rest := s[sep+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			rest = rest[at+1:]
		}
		if i := strings.IndexAny(rest, "?#"); i >= 0 {
			rest = rest[:i]
		}
		return s[:sep+3] + rest
	}
	if at := strings.LastIndex(s, "@"); at >= 0 {
		s = s[at+1:]
	}
	return s
}

func onlyNameChars(s string) bool {
	for _, c := range s {
		if !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c rune) bool  { return isLetter(c) || (c >= '0' && c <= '9') }
func isLetter(c rune) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
