package updaterepo

import (
	"errors"
	"strings"
	"testing"
)

func TestParseAcceptsEveryForm(t *testing.T) {
	gh := func(o, n string) Repo { return Repo{Host: "github.com", Owner: o, Name: n} }
	on := func(h string) Repo { return Repo{Host: h, Owner: "o", Name: "n"} }
	tests := []struct {
		in         string
		want       Repo
		wantString string
	}{
		// short forms
		{"o/n", gh("o", "n"), "o/n"},
		{"your-org/better-paas", gh("your-org", "better-paas"), "your-org/better-paas"},
		{"  Your-Org/Better.PaaS_2  \n", gh("Your-Org", "Better.PaaS_2"), "Your-Org/Better.PaaS_2"},
		{"o/n.git", gh("o", "n"), "o/n"},
		{"o/n/", gh("o", "n"), "o/n"},
		{"github.com/o/n", gh("o", "n"), "o/n"},
		{"GitHub.com/o/n", gh("o", "n"), "o/n"},
		{"www.github.com/o/n", gh("o", "n"), "o/n"},
		{"ghe.example.com/o/n", on("ghe.example.com"), "ghe.example.com/o/n"},
		{"localhost/o/n", on("localhost"), "localhost/o/n"},
		{"git.example.com:8443/o/n", on("git.example.com:8443"), "git.example.com:8443/o/n"},
		{"git.example.com:443/o/n", on("git.example.com"), "git.example.com/o/n"},
		{"github.com:o/n", gh("o", "n"), "o/n"},
		{"github.com:o/n.git", gh("o", "n"), "o/n"},
		// https and http
		{"https://github.com/o/n", gh("o", "n"), "o/n"},
		{"https://github.com/o/n.git", gh("o", "n"), "o/n"},
		{"https://github.com/o/n/", gh("o", "n"), "o/n"},
		{"https://github.com/o/n.git/", gh("o", "n"), "o/n"},
		{"https://github.com/o/n//", gh("o", "n"), "o/n"},
		{"HTTPS://GITHUB.COM/o/n", gh("o", "n"), "o/n"},
		{"https://www.github.com/o/n", gh("o", "n"), "o/n"},
		{"https://github.com:443/o/n", gh("o", "n"), "o/n"},
		{"http://github.com/o/n.git", gh("o", "n"), "o/n"},
		{"http://git.example.com:80/o/n", on("git.example.com"), "git.example.com/o/n"},
		{"http://git.example.com:8080/o/n", on("git.example.com:8080"), "git.example.com:8080/o/n"},
		{"https://user:ghp_secret@github.com/o/n.git", gh("o", "n"), "o/n"},
		{"https://x-access-token:ghs_secret@github.com/o/n", gh("o", "n"), "o/n"},
		{"https://oauth2@gitlab.example.com/o/n.git", on("gitlab.example.com"), "gitlab.example.com/o/n"},
		// GitHub Enterprise and other hosts
		{"https://ghe.example.com/o/n.git", on("ghe.example.com"), "ghe.example.com/o/n"},
		{"https://GHE.Example.COM:8443/o/n/", on("ghe.example.com:8443"), "ghe.example.com:8443/o/n"},
		{"https://gitlab.example.com/my.group/n", Repo{Host: "gitlab.example.com", Owner: "my.group", Name: "n"}, "gitlab.example.com/my.group/n"},
		{"https://gitlab.example.com/my_group/n", Repo{Host: "gitlab.example.com", Owner: "my_group", Name: "n"}, "gitlab.example.com/my_group/n"},
		{"https://10.0.0.5/o/n.git", on("10.0.0.5"), "10.0.0.5/o/n"},
		// ssh
		{"git@github.com:o/n.git", gh("o", "n"), "o/n"},
		{"git@github.com:o/n", gh("o", "n"), "o/n"},
		{"git@github.com:o/n.git/", gh("o", "n"), "o/n"},
		{"git@github.com:/o/n.git", gh("o", "n"), "o/n"},
		{"org-123@github.com:o/n.git", gh("o", "n"), "o/n"},
		{"git@ghe.example.com:o/n.git", on("ghe.example.com"), "ghe.example.com/o/n"},
		{"ssh://git@github.com/o/n.git", gh("o", "n"), "o/n"},
		{"ssh://git@github.com:22/o/n.git", gh("o", "n"), "o/n"},
		{"ssh://git@ghe.example.com:2222/o/n.git", on("ghe.example.com"), "ghe.example.com/o/n"},
		{"ssh://GHE.example.com/o/n", on("ghe.example.com"), "ghe.example.com/o/n"},
		{"git+ssh://git@github.com/o/n.git", gh("o", "n"), "o/n"},
		{"ssh+git://git@github.com/o/n.git", gh("o", "n"), "o/n"},
		// git daemon
		{"git://github.com/o/n.git", gh("o", "n"), "o/n"},
		{"git://git.example.com:9418/o/n", on("git.example.com"), "git.example.com/o/n"},
		// limits
		{strings.Repeat("a", 39) + "/" + strings.Repeat("b", 100), gh(strings.Repeat("a", 39), strings.Repeat("b", 100)), strings.Repeat("a", 39) + "/" + strings.Repeat("b", 100)},
		{"a-b-c/.github", gh("a-b-c", ".github"), "a-b-c/.github"},
		{"1/-n-", gh("1", "-n-"), "1/-n-"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("Parse(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.wantString {
				t.Errorf("String() = %q, want %q", s, tt.wantString)
			}
			// String is the persisted form: it must parse back to the same repo.
			back, err := Parse(got.String())
			if err != nil || back != got {
				t.Errorf("Parse(String()) = %#v, %v; want %#v", back, err, got)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		in   string
		kind error
		want string // substring of the error
	}{
		{"", ErrInvalid, "empty"},
		{"   ", ErrInvalid, "empty"},
		{"o", ErrInvalid, "1 part(s)"},
		{"a/b/c/d", ErrInvalid, "4 part(s)"},
		{"a/b/c", ErrInvalid, `"a" is not a host name`},
		{"o/", ErrInvalid, "1 part(s)"},
		{"/n", ErrNotHosted, "local path"},
		{"o//n", ErrInvalid, "empty part"},
		{"github.com//n", ErrInvalid, "empty part"},
		{"https://github.com//n", ErrInvalid, `owner "" is empty`},
		{"https://github.com/o/", ErrInvalid, "1 part(s)"},
		{"https://github.com/o//n", ErrInvalid, "empty part"},
		{"https://github.com", ErrInvalid, "names no OWNER/NAME"},
		{"https:///o/n", ErrInvalid, "host is empty"},
		{"git@:o/n", ErrInvalid, "host is empty"},
		{"o/.git", ErrInvalid, `name "" is empty`},
		{"my org/n", ErrInvalid, "white space"},
		{"o/my repo", ErrInvalid, "white space"},
		{"o/n\x00", ErrInvalid, "control character"},
		{strings.Repeat("a", 40) + "/n", ErrInvalid, "longer than 39"},
		{"o/" + strings.Repeat("b", 101), ErrInvalid, "longer than 100"},
		{"-o/n", ErrInvalid, "start or end with a hyphen"},
		{"o-/n", ErrInvalid, "start or end with a hyphen"},
		{"o--p/n", ErrInvalid, "two hyphens"},
		{"o_p/n", ErrInvalid, "only letters, digits and single hyphens"},
		{"o.p/n", ErrInvalid, "only letters, digits and single hyphens"},
		{"https://github.com/-o/n", ErrInvalid, "hyphen"},
		{"https://gitlab.example.com/-o/n", ErrInvalid, "must not start or end"},
		{"https://gitlab.example.com/group/sub/n", ErrInvalid, "3 part(s)"},
		{"o/..", ErrInvalid, "reserved"},
		{"o/.", ErrInvalid, "reserved"},
		{"o/n!", ErrInvalid, "only letters"},
		{"o/né", ErrInvalid, "only letters"},
		{"https://github.com/o/n/tree/main", ErrInvalid, "4 part(s)"},
		{"https://github.com/o/n?tab=readme", ErrInvalid, "query or fragment"},
		{"https://github.com/o/n#readme", ErrInvalid, "query or fragment"},
		{"ftp://github.com/o/n", ErrInvalid, `unsupported URL scheme "ftp"`},
		{"https://git_hub.com/o/n", ErrInvalid, `host "git_hub.com"`},
		{"https://-bad.com/o/n", ErrInvalid, "starts or ends with '-'"},
		{"https://github..com/o/n", ErrInvalid, "empty label"},
		{"https://github.com:99999/o/n", ErrInvalid, "port"},
		{"https://github.com:x/o/n", ErrInvalid, "port"},
		{"git@github.com:8443/o/n", ErrInvalid, "3 part(s)"},
		{"git@github.com/o/n", ErrInvalid, "scp-like"},
		// local remotes
		{"file:///srv/git/app.git", ErrNotHosted, "file://"},
		{"FILE:///srv/git/app.git", ErrNotHosted, "file://"},
		{"/srv/git/app.git", ErrNotHosted, "local path"},
		{"/local/path", ErrNotHosted, "local path"},
		{"./app", ErrNotHosted, "local path"},
		{"../x", ErrNotHosted, "local path"},
		{"..", ErrNotHosted, "local path"},
		{"~/src/app", ErrNotHosted, "local path"},
		{`C:\src\app`, ErrNotHosted, "local path"},
		{"C:/src/app", ErrNotHosted, "local path"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %#v, want error", tt.in, got)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("Parse(%q) error %q is not %v", tt.in, err, tt.kind)
			}
			other := ErrNotHosted
			if tt.kind == ErrNotHosted {
				other = ErrInvalid
			}
			if errors.Is(err, other) {
				t.Errorf("Parse(%q) error %q is also %v", tt.in, err, other)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Errorf("error %T is not a *ParseError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%q) error %q does not mention %q", tt.in, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "cannot parse repository ") {
				t.Errorf("error %q does not follow the cannot <verb> <object> form", err)
			}
			if got != (Repo{}) {
				t.Errorf("Parse(%q) returned %#v with its error, want the zero Repo", tt.in, got)
			}
		})
	}
}

// TestCredentialsNeverLeak feeds secrets in every position a person might
// put them, valid or not, and checks neither the Repo nor the error holds
// them.
func TestCredentialsNeverLeak(t *testing.T) {
	const secret = "s3cr3tT0ken"
	inputs := []string{
		"https://user:" + secret + "@github.com/o/n.git",
		"https://" + secret + "@github.com/o/n.git",
		"https://user:" + secret + "@github.com/o/n/extra/parts",
		"https://user:" + secret + "@github.com/-bad/n",
		"https://user:" + secret + "@bad_host/o/n",
		"https://user:" + secret + "@github.com/o/n?x=1",
		"https://user:" + secret + "@github.com",
		"ftp://user:" + secret + "@github.com/o/n",
		"https://user:pa/" + secret + "@github.com/o/n",    // unescaped '/' in a password
		"https://user:pa#" + secret + "@github.com/o/n",    // unescaped '#' in a password
		"https://user:pa?" + secret + "@github.com/o/n",    // unescaped '?' in a password
		"https://github.com/o/n?access_token=" + secret,    // token in the query
		"https://github.com/o/n#" + secret,                 // and in the fragment
		"user:" + secret + "@github.com:o/n.git",           // scp-like with a password
		"user:" + secret + "@github.com:o/n/x",             // the same, invalid
		"user:pa/" + secret + "@github.com:o/n",            // '/' in an scp-like password
		"user:" + secret + "@github.com/o/n",               // no colon after the host
		"file://user:" + secret + "@localhost/srv/app.git", // local
	}
	for _, in := range inputs {
		repo, err := Parse(in)
		for _, s := range []string{repo.String(), repo.Host, repo.Owner, repo.Name} {
			if strings.Contains(s, secret) {
				t.Errorf("Parse(%q) kept the secret in %#v", in, repo)
			}
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("Parse(%q) error leaks the secret: %v", in, err)
		}
		if err == nil && repo.Owner != "o" {
			t.Errorf("Parse(%q) = %#v", in, repo)
		}
	}
}

func TestIsGitHub(t *testing.T) {
	tests := []struct {
		repo Repo
		want bool
	}{
		{Repo{Host: "github.com", Owner: "o", Name: "n"}, true},
		{Repo{Host: "www.github.com", Owner: "o", Name: "n"}, true},
		{Repo{Host: "ghe.example.com", Owner: "o", Name: "n"}, false},
		{Repo{Host: "ghe.example.com", Owner: "o", Name: "n", GitHubEnterprise: true}, true},
		{Repo{Host: "gitlab.example.com", Owner: "o", Name: "n"}, false},
		{Repo{Host: "github.com.evil.example", Owner: "o", Name: "n"}, false},
		{Repo{Owner: "o", Name: "n"}, false},
	}
	for _, tt := range tests {
		if got := tt.repo.IsGitHub(); got != tt.want {
			t.Errorf("%#v.IsGitHub() = %v, want %v", tt.repo, got, tt.want)
		}
	}
	if s := (Repo{Owner: "o", Name: "n"}).String(); s != "o/n" {
		t.Errorf("String() of a repo with an unknown host = %q, want o/n", s)
	}
}
