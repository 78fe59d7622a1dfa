package config

import (
	"errors"
	"strings"
	"testing"
)

// TestAPIListen: a missing block or field listens on loopback, "" turns
// the API off, and a unix socket is named by its absolute path.
func TestAPIListen(t *testing.T) {
	tests := []struct {
		name, yaml, address, socket string
	}{
		{"no block", base, DefaultAPIListen, ""},
		{"empty block", base + "api: {}\n", DefaultAPIListen, ""},
		{"no listen", base + "api:\n  hosts: [updates.example.com]\n", DefaultAPIListen, ""},
		{"off", base + "api:\n  listen: \"\"\n", "", ""},
		{"port", base + "api:\n  listen: 127.0.0.1:9000\n", "127.0.0.1:9000", ""},
		{"any free port", base + "api:\n  listen: 127.0.0.1:0\n", "127.0.0.1:0", ""},
		{"ipv6", base + "api:\n  listen: \"[::1]:8079\"\n", "[::1]:8079", ""},
		{"name", base + "api:\n  listen: localhost:8079\n", "localhost:8079", ""},
		{"unix", base + "api:\n  listen: unix:/run/bpu/api.sock\n", "unix:/run/bpu/api.sock", "/run/bpu/api.sock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("/etc/bp/updater.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := c.API.Address(); got != tt.address {
				t.Errorf("Address() = %q, want %q", got, tt.address)
			}
			if got := c.API.Enabled(); got != (tt.address != "") {
				t.Errorf("Enabled() = %t", got)
			}
			if got := c.API.SocketPath(); got != tt.socket {
				t.Errorf("SocketPath() = %q, want %q", got, tt.socket)
			}
			if c.API.Listen == nil || *c.API.Listen != tt.address {
				t.Errorf("Default did not write api.listen out: %v", c.API.Listen)
			}
		})
	}
}

// TestAPIRefusesBadSettings: every bad entry is refused at load, naming the
// field and the fix.
func TestAPIRefusesBadSettings(t *testing.T) {
	long := "unix:/" + strings.Repeat("s", 120)
	tests := []struct {
		name, api string
		want      []string
	}{
		{"no port", "listen: 127.0.0.1", []string{"api.listen", "not host:port", "unix:/absolute/path.sock"}},
		{"bad port", "listen: 127.0.0.1:http", []string{"api.listen", `port "http"`}},
		{"port too high", "listen: 127.0.0.1:70000", []string{"api.listen", "0 to 65535"}},
		{"bad host", "listen: \"exa mple:80\"", []string{"api.listen", "neither an IP address nor a host name"}},
		{"relative socket", "listen: unix:run/api.sock", []string{"api.listen", "relative socket path", "unix:/absolute/path.sock"}},
		{"empty socket", "listen: \"unix:\"", []string{"api.listen", "names no socket path"}},
		{"unclean socket", "listen: unix:/run/../api.sock", []string{"api.listen", "unix:/api.sock"}},
		{"long socket", "listen: " + long, []string{"api.listen", "longer than the 107"}},
		{"host with scheme", "hosts: [\"https://x.example\"]", []string{"api.hosts[0]", "bare host name"}},
		{"host with path", "hosts: [ok.example, \"x.example/a\"]", []string{"api.hosts[1]"}},
		{"host bad port", "hosts: [\"x.example:0\"]", []string{"api.hosts[0]", "port"}},
		{"origin without scheme", "origins: [dashboard.example.com]", []string{"api.origins[0]", "scheme://host[:port]"}},
		{"origin with path", "origins: [\"https://dashboard.example.com/\"]", []string{"api.origins[0]", "no trailing slash"}},
		{"origin ftp", "origins: [\"ftp://x.example\"]", []string{"api.origins[0]", "not an http or https origin"}},
		{"origin wildcard", "origins: [\"*\"]", []string{"api.origins[0]"}},
		{"origin default port", "origins: [\"https://x.example:443\"]", []string{"api.origins[0]", "remove :443"}},
		{"frame ancestor quoted", "frameAncestors: [\"'unsafe-inline'\"]", []string{"api.frameAncestors[0]", "not a CSP source expression"}},
		{"frame ancestor list in one", "frameAncestors: [\"'self' https://x.example\"]", []string{"api.frameAncestors[0]"}},
		{"frame ancestor semicolon", "frameAncestors: [\"https://x.example; script-src *\"]", []string{"api.frameAncestors[0]"}},
		{"none with others", "frameAncestors: [\"'none'\", \"'self'\"]", []string{"api.frameAncestors[0]", "cannot be combined"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("/etc/bp/updater.yaml", []byte(base+"api:\n  "+tt.api+"\n"))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestAPIAcceptsGoodSettings: the forms the documentation shows load.
func TestAPIAcceptsGoodSettings(t *testing.T) {
	c, err := Parse("/etc/bp/updater.yaml", []byte(base+`api:
  listen: ":8079"
  hosts: [updates.example.com, "proxy.internal:8443", "10.0.0.5", "[::1]:8079"]
  origins: ["https://dashboard.example.com", "http://127.0.0.1:3000"]
  frameAncestors: ["'self'", "https:", "https://*.example.com", "https://dash.example.com:8443/admin"]
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(c.API.Hosts) != 4 || len(c.API.Origins) != 2 || len(c.API.FrameAncestors) != 4 {
		t.Errorf("api = %+v", c.API)
	}
}

// TestDigestLeavesOutTheAPI: a config without an api block keeps the
// digest it had before the block existed (failure records made then still
// hold), and changing the api block lifts no failure record.
func TestDigestLeavesOutTheAPI(t *testing.T) {
	digest := func(yaml string) string {
		t.Helper()
		c, err := Parse("/etc/bp/updater.yaml", []byte(yaml))
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		return c.Digest()
	}
	// Computed by the updater before the api block existed.
	const before = "65f9879ac6fc2888713adac3b82b4d6cc87e280cfee26763500f6181912a37c7"
	if got := digest(base); got != before {
		t.Errorf("Digest() of a config without api = %s, want %s as before the block existed", got, before)
	}
	for _, api := range []string{"api:\n  listen: \"\"\n", "api:\n  listen: unix:/run/api.sock\n  origins: [\"https://x.example\"]\n"} {
		if got := digest(base + api); got != before {
			t.Errorf("%q changed the digest", api)
		}
	}
}
