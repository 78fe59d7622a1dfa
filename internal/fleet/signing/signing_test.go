package signing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"golang.org/x/crypto/ssh"
)

// sshsig signs message as `ssh-keygen -Y sign -n namespace` does and
// returns the armored signature.
func sshsig(t *testing.T, signer ssh.Signer, namespace string, message []byte) string {
	t.Helper()
	digest := sha512.Sum512(message)
	signed := append([]byte(sshsigMagic), ssh.Marshal(struct {
		Namespace, Reserved, Hash string
		Digest                    []byte
	}{namespace, "", "sha512", digest[:]})...)
	sig, err := signer.Sign(rand.Reader, signed)
	if err != nil {
		t.Fatal(err)
	}
	blob := append([]byte(sshsigMagic), ssh.Marshal(struct {
		Version   uint32
		PublicKey []byte
		Namespace string
		Reserved  string
		Hash      string
		Signature []byte
	}{1, signer.PublicKey().Marshal(), namespace, "", "sha512", ssh.Marshal(sig)})...)
	return "-----BEGIN SSH SIGNATURE-----\n" + base64.StdEncoding.EncodeToString(blob) + "\n-----END SSH SIGNATURE-----\n"
}

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// commitSignedBy returns a commit whose signature sign makes over its
// payload.
func commitSignedBy(t *testing.T, sign func(payload []byte) string) *object.Commit {
	t.Helper()
	who := object.Signature{Name: "Ops", Email: "ops@fleet.example", When: time.Unix(1764547200, 0).UTC()}
	c := &object.Commit{Author: who, Committer: who, Message: "pin v1.2.0\n", TreeHash: plumbing.NewHash("4b825dc642cb6eb9a060e54bf8d69288fbee4904")}
	payload := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(payload); err != nil {
		t.Fatal(err)
	}
	r, _ := payload.Reader()
	var b bytes.Buffer
	b.ReadFrom(r)
	c.PGPSignature = sign(b.Bytes())
	return c
}

// TestVerifySSH: a commit signed by a listed key in namespace git passes;
// another key, another namespace, a changed commit or no signature fail
// with the sentinel that says which.
func TestVerifySSH(t *testing.T) {
	trusted, other := newSigner(t), newSigner(t)
	keys, err := Load([]string{string(ssh.MarshalAuthorizedKey(trusted.PublicKey()))})
	if err != nil {
		t.Fatal(err)
	}
	good := commitSignedBy(t, func(p []byte) string { return sshsig(t, trusted, "git", p) })
	if who, err := keys.Verify(good); err != nil || !strings.Contains(who, ssh.FingerprintSHA256(trusted.PublicKey())) {
		t.Fatalf("Verify(good) = %q, %v", who, err)
	}
	tampered := *good
	tampered.Message = "pin v6.6.6\n"
	for name, tc := range map[string]struct {
		c    *object.Commit
		want error
		says string
	}{
		"other key":     {commitSignedBy(t, func(p []byte) string { return sshsig(t, other, "git", p) }), ErrUntrusted, "not listed"},
		"namespace":     {commitSignedBy(t, func(p []byte) string { return sshsig(t, trusted, "file", p) }), ErrUntrusted, "namespace"},
		"tampered":      {&tampered, ErrUntrusted, "does not match"},
		"unsigned":      {commitSignedBy(t, func([]byte) string { return "" }), ErrUnsigned, "not signed"},
		"x509":          {commitSignedBy(t, func([]byte) string { return "-----BEGIN SIGNED MESSAGE-----\nx\n" }), ErrUntrusted, "X.509"},
		"pgp, ssh keys": {commitSignedBy(t, func([]byte) string { return "-----BEGIN PGP SIGNATURE-----\nx\n-----END PGP SIGNATURE-----\n" }), ErrUntrusted, "no OpenPGP key"},
	} {
		if _, err := keys.Verify(tc.c); !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: err = %v, want %v saying %q", name, err, tc.want, tc.says)
		}
	}
}
