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
	c, err = Parse("/etc/bp/updater.yaml", []byte(base+"desiredFrom:\n  git:\n    url: git@git.example.com:ops/fleet.git\n    hostname: web-1\n    ssh: {keyFile: deploy-key, knownHostsFile: /etc/ssh/fleet_known_hosts}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.DesiredFrom.Git.SSH; s == nil || s.KeyFile != "/etc/bp/deploy-key" || s.KnownHostsFile != "/etc/ssh/fleet_known_hosts" {
		t.Errorf("ssh block = %+v, want the key file beside updater.yaml", s)
	}
	if _, err := Parse("/etc/bp/updater.yaml", []byte(base+"desiredFrom:\n  git:\n    interval: 1s\n")); err == nil {
		t.Error("accepted")
	} else {
		t.Log(err)
	}
}
