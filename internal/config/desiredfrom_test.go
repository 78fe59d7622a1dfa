package config

import "testing"

func TestWiredDesiredFrom(t *testing.T) {
	c, err := Parse("/etc/bp/updater.yaml", []byte(base+"desiredFrom:\n  git:\n    url: https://git.example.com/fleet.git\n    hostname: web-1\n    signingKeys: [keys/a.asc]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if g := c.DesiredFrom.Git; g == nil || g.Branch != "main" || g.SigningKeys[0] != "/etc/bp/keys/a.asc" || g.HostID != "web-1" {
		t.Fatalf("%+v", c.DesiredFrom.Git)
	}
	if c.Digest() != mustParse(t, base).Digest() {
		t.Error("desiredFrom changed the digest")
	}
	if _, err := Parse("/etc/bp/updater.yaml", []byte(base+"desiredFrom:\n  git:\n    interval: 1s\n")); err == nil {
		t.Error("accepted")
	} else {
		t.Log(err)
	}
}
