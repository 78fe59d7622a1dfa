package config

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// fleetProblems defaults and validates d as Config.Default and
// Config.Validate do, and returns the problems as "field: message".
func fleetProblems(d *DesiredFrom, base string) []string {
	d.defaults(base)
	var out []string
	d.validate(func(field, format string, a ...any) {
		out = append(out, field+": "+fmt.Sprintf(format, a...))
	})
	return out
}

// TestDesiredFromDefaults: a git source gets the branch, paths, interval,
// timeout and host names; relative key files resolve against
// updater.yaml's folder; no git source stays nil.
func TestDesiredFromDefaults(t *testing.T) {
	var none DesiredFrom
	if p := fleetProblems(&none, "/etc/bp"); len(p) != 0 || none.Git != nil {
		t.Errorf("no desiredFrom: %v %+v", p, none)
	}
	hostname, err := os.Hostname()
	if err != nil || !fleetName.MatchString(hostname) {
		t.Skipf("this host's name %q cannot be a fleet name", hostname)
	}
	d := DesiredFrom{Git: &GitSource{URL: "https://git.example.com/ops/fleet.git", SigningKeys: []string{"keys/fleet.asc", "/abs/key.pub", "ssh-ed25519 AAAA x"}}}
	if p := fleetProblems(&d, "/etc/bp"); len(p) != 0 {
		t.Fatalf("problems: %v", p)
	}
	g := d.Git
	if g.Branch != "main" || !slices.Equal(g.Paths, DefaultFleetPaths) || g.Interval.Duration != DefaultFleetInterval ||
		g.Timeout.Duration != DefaultFleetTimeout || g.Hostname != hostname || g.HostID != hostname || g.Group != "" {
		t.Errorf("defaults = %+v", g)
	}
	if want := []string{"/etc/bp/keys/fleet.asc", "/abs/key.pub", "ssh-ed25519 AAAA x"}; !slices.Equal(g.SigningKeys, want) {
		t.Errorf("signingKeys = %v, want %v", g.SigningKeys, want)
	}
	// Idempotent, and explicit values kept.
	d2 := DesiredFrom{Git: &GitSource{URL: "/srv/fleet.git", Branch: "prod", Paths: []string{"x/{hostID}.yaml"},
		Interval: Duration{30 * time.Second}, Hostname: "web-1", HostID: "abc", Group: "eu"}}
	fleetProblems(&d2, "/etc/bp")
	if p := fleetProblems(&d2, "/etc/bp"); len(p) != 0 || d2.Git.Branch != "prod" || d2.Git.HostID != "abc" || d2.Git.Interval.Duration != 30*time.Second {
		t.Errorf("explicit values: %v %+v", p, d2.Git)
	}
}

// TestDesiredFromRefused: each mistake is named by its field.
func TestDesiredFromRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		g     GitSource
		field string
		words string
	}{
		{"no url", GitSource{}, "desiredFrom.git.url", "required"},
		{"bad scheme", GitSource{URL: "ftp://x/fleet"}, "desiredFrom.git.url", "ftp"},
		{"bad branch", GitSource{URL: "/f", Branch: "refs/heads/main"}, "desiredFrom.git.branch", "without refs/heads/"},
		{"short interval", GitSource{URL: "/f", Interval: Duration{time.Second}}, "desiredFrom.git.interval", "shorter than 10s"},
		{"unknown placeholder", GitSource{URL: "/f", Paths: []string{"hosts/{host}/d.yaml"}}, "desiredFrom.git.paths[0]", "placeholder"},
		{"escaping path", GitSource{URL: "/f", Paths: []string{"../{hostname}.yaml"}}, "desiredFrom.git.paths[0]", "clean"},
		{"absolute path", GitSource{URL: "/f", Paths: []string{"ok.yaml", "/etc/x.yaml"}}, "desiredFrom.git.paths[1]", "relative"},
		{"slash in hostname", GitSource{URL: "/f", Hostname: "a/b"}, "desiredFrom.git.hostname", "folder name"},
		{"dotdot group", GitSource{URL: "/f", Group: ".."}, "desiredFrom.git.group", "letters"},
		{"empty key", GitSource{URL: "/f", SigningKeys: []string{" "}}, "desiredFrom.git.signingKeys[0]", "empty"},
		{"negative timeout", GitSource{URL: "/f", Timeout: Duration{-time.Second}}, "desiredFrom.git.timeout", "negative"},
		{"ssh block for https", GitSource{URL: "https://git.example.com/fleet.git", SSH: &SSHAuth{KeyFile: "/k"}}, "desiredFrom.git.ssh", "not fetched over SSH"},
		{"ssh block without a key", GitSource{URL: "ssh://git@git.example.com/fleet.git", SSH: &SSHAuth{}}, "desiredFrom.git.ssh.keyFile", "required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.g
			if g.Hostname == "" {
				g.Hostname = "web-1"
			}
			d := DesiredFrom{Git: &g}
			p := fleetProblems(&d, "/etc/bp")
			found := false
			for _, m := range p {
				if strings.HasPrefix(m, tc.field+": ") && strings.Contains(m, tc.words) {
					found = true
				}
			}
			if !found {
				t.Errorf("problems %q; want %s saying %q", p, tc.field, tc.words)
			}
		})
	}
}

func TestIsSSHURL(t *testing.T) {
	for u, want := range map[string]bool{
		"ssh://git@host/ops/fleet.git":       true,
		"git@git.example.com:ops/fleet.git":  true,
		"https://git.example.com/fleet.git":  false,
		"file:///srv/fleet.git":              false,
		"/srv/fleet.git":                     false,
		"./relative/fleet.git":               false,
		"/srv/user@host:weird/fleet.git":     false,
		"https://user:tok@git.example.com/f": false,
	} {
		if got := IsSSHURL(u); got != want {
			t.Errorf("IsSSHURL(%q) = %v, want %v", u, got, want)
		}
	}
}
