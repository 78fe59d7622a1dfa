package fleet

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/better-paas/updater/status"
)

// gpgKey makes an OpenPGP key and returns it with its armored public key.
func gpgKey(t *testing.T, name string) (*openpgp.Entity, string) {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@fleet.example", nil)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return e, b.String()
}

// commitGPG commits files signed with key (go-git's signer: no gpg agent
// needed) and pushes with the git CLI.
func (r *fleetRepo) commitGPG(files map[string]string, key *openpgp.Entity) string {
	r.t.Helper()
	r.write(files)
	repo, err := git.PlainOpen(r.Work)
	if err != nil {
		r.t.Fatal(err)
	}
	w, err := repo.Worktree()
	if err != nil {
		r.t.Fatal(err)
	}
	sig := &object.Signature{Name: "Fleet Ops", Email: "ops@fleet.example", When: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)}
	h, err := w.Commit("signed fleet change", &git.CommitOptions{SignKey: key, Author: sig, Committer: sig, AllowEmptyCommits: true})
	if err != nil {
		r.t.Fatal(err)
	}
	r.git(r.Work, "push", "-q", "origin", "HEAD:main")
	return h.String()
}

// sshKey makes an ed25519 key with ssh-keygen; it returns the private
// key's path and the public key line, or "" when there is no ssh-keygen.
func sshKey(t *testing.T) (string, string) {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		return "", "" // the SSH cases skip: git signs with SSH keys through ssh-keygen
	}
	key := filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ops@fleet.example", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return key, strings.TrimSpace(string(pub))
}

func sshSign(key string) []string {
	return []string{"-c", "gpg.format=ssh", "-c", "user.signingkey=" + key, "-c", "commit.gpgSign=true"}
}

// TestSyncVerifiesSignatures: with signingKeys set, only a commit signed
// by a listed key (OpenPGP or SSH, as git signs) is acted on.
func TestSyncVerifiesSignatures(t *testing.T) {
	t.Parallel()
	trusted, trustedPub := gpgKey(t, "fleet-ops")
	other, _ := gpgKey(t, "intruder")
	sshTrusted, sshTrustedPub := sshKey(t)
	sshOther, _ := sshKey(t)
	keyFile := filepath.Join(t.TempDir(), "fleet-keys.asc")
	if err := os.WriteFile(keyFile, []byte(trustedPub), 0o644); err != nil {
		t.Fatal(err)
	}
	allowedSigners := filepath.Join(t.TempDir(), "allowed_signers")
	if err := os.WriteFile(allowedSigners, []byte("# fleet signers\nops@fleet.example "+sshTrustedPub+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		keys   []string
		commit func(r *fleetRepo) string
		reason string // "" when applied
		err    error
	}{
		{"unsigned", []string{trustedPub}, func(r *fleetRepo) string {
			return r.commit(map[string]string{"fleet/desired.yaml": plainFile("v2.0.0")})
		}, ReasonUnsigned, ErrUnsigned},
		{"gpg trusted inline", []string{trustedPub}, func(r *fleetRepo) string {
			return r.commitGPG(map[string]string{"fleet/desired.yaml": plainFile("v2.0.0")}, trusted)
		}, "", nil},
		{"gpg trusted file", []string{keyFile}, func(r *fleetRepo) string {
			return r.commitGPG(map[string]string{"fleet/desired.yaml": plainFile("v2.0.0")}, trusted)
		}, "", nil},
		{"gpg other key", []string{trustedPub}, func(r *fleetRepo) string {
			return r.commitGPG(map[string]string{"fleet/desired.yaml": plainFile("v2.0.0")}, other)
		}, ReasonUntrusted, ErrUntrusted},
		{"gpg with ssh keys only", []string{sshTrustedPub}, func(r *fleetRepo) string {
			return r.commitGPG(map[string]string{"fleet/desired.yaml": plainFile("v2.0.0")}, trusted)
		}, ReasonUntrusted, ErrUntrusted},
		{"ssh trusted", []string{trustedPub, sshTrustedPub}, func(r *fleetRepo) string {
			return r.commit(map[string]string{"fleet/desired.yaml": plainFile("v2.0.0")}, sshSign(sshTrusted)...)
		}, "", nil},
		{"ssh allowed_signers file", []string{allowedSigners}, func(r *fleetRepo) string {
			return r.commit(map[string]string{"fleet/desired.yaml": plainFile("v2.0.0")}, sshSign(sshTrusted)...)
		}, "", nil},
		{"ssh other key", []string{sshTrustedPub}, func(r *fleetRepo) string {
			return r.commit(map[string]string{"fleet/desired.yaml": plainFile("v2.0.0")}, sshSign(sshOther)...)
		}, ReasonUntrusted, ErrUntrusted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if sshTrusted == "" && (strings.HasPrefix(tc.name, "ssh") || strings.Contains(tc.name, "ssh keys")) {
				t.Skip("ssh-keygen is not installed; git signs with SSH keys through it")
			}
			r := newFleetRepo(t)
			h := newHost(t, r.Bare, "web-1", "")
			h.Source.SigningKeys = tc.keys
			if err := os.WriteFile(h.Desired, []byte(plainFile("v1.0.0")), 0o644); err != nil {
				t.Fatal(err)
			}
			commit := tc.commit(r)
			res, err := h.syncer(t).Sync(context.Background())
			if res.Commit != commit {
				t.Fatalf("synced commit %s, want %s", res.Commit, commit)
			}
			if tc.err == nil {
				if err != nil || res.Result != status.FleetApplied || desiredVersion(t, h) != "v2.0.0" {
					t.Fatalf("Sync = %+v, %v; want Applied v2.0.0", res, err)
				}
				return
			}
			if !errors.Is(err, tc.err) || res.Result != status.FleetRefused || res.Reason != tc.reason {
				t.Fatalf("Sync = %s %s, %v; want Refused %s", res.Result, res.Reason, err, tc.reason)
			}
			if v := desiredVersion(t, h); v != "v1.0.0" {
				t.Errorf("desired.yaml asks for %s after a refused commit", v)
			}
			if !strings.Contains(res.Message, commit) {
				t.Errorf("message %q does not name the commit", res.Message)
			}
		})
	}
}

// TestSigningKeysRefused: a key entry that is not a key stops New.
func TestSigningKeysRefused(t *testing.T) {
	garbage := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(garbage, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, keys := range [][]string{
		{filepath.Join(t.TempDir(), "missing.asc")},
		{garbage},
		{"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot a key\n-----END PGP PUBLIC KEY BLOCK-----\n"},
		{"ssh-ed25519 AAAAnotbase64!"},
	} {
		h := newHost(t, "/x", "web-1", "")
		h.Source.SigningKeys = keys
		_, err := New(Options{Source: h.Source, DesiredFile: h.Desired, StatusPath: h.Status, CloneDir: CloneDir(h.State)})
		if err == nil || !strings.Contains(err.Error(), "signingKeys[0]") {
			t.Errorf("New with keys %q: err = %v, want one naming signingKeys[0]", keys, err)
		}
	}
}
