package config

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"
)

// testPublicKey returns a fresh minisign public key as its base64 line and
// as the text of a .pub file.
func testPublicKey(t *testing.T) (line, pubFile string) {
	t.Helper()
	pub, _, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pub.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	return pub.String(), string(b) + "\n"
}

// TestSelfUpdateDefaults: an absent block stays zero (and out of a written
// config); an enabled one gets the API URL and interval defaults.
func TestSelfUpdateDefaults(t *testing.T) {
	c, err := Parse("/etc/bp/updater.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.SelfUpdate != (SelfUpdate{}) {
		t.Errorf("absent selfUpdate = %+v, want zero", c.SelfUpdate)
	}
	key, _ := testPublicKey(t)
	c, err = Parse("/etc/bp/updater.yaml", []byte(base+"selfUpdate:\n  enabled: true\n  repo: better-paas/updater\n  publicKey: "+key+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	su := c.SelfUpdate
	if su.APIURL != DefaultSelfUpdateAPIURL || su.Interval.Duration != DefaultSelfUpdateInterval {
		t.Errorf("defaults: apiURL %q interval %s", su.APIURL, su.Interval)
	}
	if su.Owner() != "better-paas" || su.Name() != "updater" {
		t.Errorf("Owner/Name = %q %q", su.Owner(), su.Name())
	}
	if d := c.Digest(); d != mustParse(t, base).Digest() {
		t.Errorf("selfUpdate changed the digest: it must not lift failure records of the app")
	}
}

func mustParse(t *testing.T, y string) *Config {
	t.Helper()
	c, err := Parse("/etc/bp/updater.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSelfUpdateAcceptsGoodSettings: both key forms, an API URL of a test
// server and the minimum interval load.
func TestSelfUpdateAcceptsGoodSettings(t *testing.T) {
	line, pub := testPublicKey(t)
	indented := "|\n    " + strings.ReplaceAll(strings.TrimSuffix(pub, "\n"), "\n", "\n    ")
	for name, block := range map[string]string{
		"key line":    "enabled: true\n  repo: o/n\n  publicKey: " + line,
		"pub file":    "enabled: true\n  repo: o.x/n_y-z\n  publicKey: " + indented,
		"api url":     "enabled: true\n  repo: o/n\n  publicKey: " + line + "\n  apiURL: http://127.0.0.1:9999\n  interval: 1m",
		"disabled":    "enabled: false",
		"off but set": "repo: o/n\n  interval: 2h",
	} {
		t.Run(name, func(t *testing.T) {
			c := mustParse(t, base+"selfUpdate:\n  "+block+"\n")
			if c.SelfUpdate.Interval.Duration < MinSelfUpdateInterval && c.SelfUpdate.Enabled {
				t.Errorf("interval %s", c.SelfUpdate.Interval)
			}
		})
	}
	c := mustParse(t, base+"selfUpdate:\n  enabled: true\n  repo: o/n\n  publicKey: "+line+"\n  interval: 90m\n")
	if c.SelfUpdate.Interval.Duration != 90*time.Minute {
		t.Errorf("interval = %s, want 90m", c.SelfUpdate.Interval)
	}
}

// TestSelfUpdateRefusesBadSettings: each mistake names its field and says
// how to fix it.
func TestSelfUpdateRefusesBadSettings(t *testing.T) {
	line, _ := testPublicKey(t)
	tests := []struct {
		name, block string
		want        []string
	}{
		{"no repo", "enabled: true\n  publicKey: " + line, []string{"selfUpdate.repo", "required", "better-paas/updater"}},
		{"bad repo", "enabled: true\n  repo: just-a-name\n  publicKey: " + line, []string{"selfUpdate.repo", `"just-a-name" is not a GitHub owner/name`}},
		{"repo with path", "repo: a/b/c", []string{"selfUpdate.repo", "not a GitHub owner/name"}},
		{"no key", "enabled: true\n  repo: o/n", []string{"selfUpdate.publicKey", "required", "RW...", ".pub"}},
		{"bad key", "enabled: true\n  repo: o/n\n  publicKey: RWnotakey", []string{"selfUpdate.publicKey", "not a minisign public key", ".pub file"}},
		{"bad key disabled", "publicKey: nope", []string{"selfUpdate.publicKey", "not a minisign public key"}},
		{"api url", "enabled: true\n  repo: o/n\n  publicKey: " + line + "\n  apiURL: ftp://x", []string{"selfUpdate.apiURL", "not an http(s) URL"}},
		{"api url credentials", "enabled: true\n  repo: o/n\n  publicKey: " + line + "\n  apiURL: https://u:p@x", []string{"selfUpdate.apiURL", "without credentials"}},
		{"interval", "enabled: true\n  repo: o/n\n  publicKey: " + line + "\n  interval: 30s", []string{"selfUpdate.interval", "shorter than 1m0s", "60 requests"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("/etc/bp/updater.yaml", []byte(base+"selfUpdate:\n  "+tt.block+"\n"))
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
