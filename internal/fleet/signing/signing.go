// Package signing checks that a commit of the fleet repo is signed by a
// key the host trusts: an OpenPGP key (git's default, gpg.format=openpgp)
// or an SSH key (gpg.format=ssh, the sshsig format of OpenSSH's
// PROTOCOL.sshsig with namespace "git"). X.509 signatures are refused.
//
// Only the signature is checked, never who the commit says wrote it:
// the keys listed are the trust, whatever name a key carries.
package signing

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"golang.org/x/crypto/ssh"
)

// Errors Verify returns (wrapped).
var (
	// ErrUnsigned: the commit carries no signature.
	ErrUnsigned = errors.New("commit is not signed")
	// ErrUntrusted: the commit is signed, but not validly by a listed key
	// (another key, a signature that does not match, a format this host
	// does not check).
	ErrUntrusted = errors.New("commit is not signed by a trusted key")
)

// Keys are the keys a commit may be signed with. The zero value trusts
// nothing.
type Keys struct {
	pgp openpgp.EntityList
	ssh []ssh.PublicKey
}

// Len is the number of keys.
func (k *Keys) Len() int { return len(k.pgp) + len(k.ssh) }

// Load reads the signingKeys entries of updater.yaml: each an armored
// OpenPGP public key (block), an SSH public key line, or the absolute
// path of a file holding either. An error names the entry and why.
func Load(entries []string) (*Keys, error) {
	var k Keys
	for i, e := range entries {
		text, from := e, fmt.Sprintf("signingKeys[%d]", i)
		if t := strings.TrimSpace(e); !strings.HasPrefix(t, "-----BEGIN") && !isSSHLine(t) {
			b, err := os.ReadFile(e)
			if err != nil {
				return nil, fmt.Errorf("cannot read %s: %w", from, err)
			}
			text, from = string(b), fmt.Sprintf("%s (%s)", from, e)
		}
		if err := k.add(text); err != nil {
			return nil, fmt.Errorf("cannot use %s: %w", from, err)
		}
	}
	return &k, nil
}

func isSSHLine(t string) bool {
	return strings.HasPrefix(t, "ssh-") || strings.HasPrefix(t, "ecdsa-sha2-") || strings.HasPrefix(t, "sk-")
}

// add parses one entry's text: armored OpenPGP, or SSH key lines.
func (k *Keys) add(text string) error {
	if strings.Contains(text, "-----BEGIN PGP PUBLIC KEY BLOCK-----") {
		el, err := openpgp.ReadArmoredKeyRing(strings.NewReader(text))
		if err != nil {
			return fmt.Errorf("not an armored OpenPGP public key (gpg --armor --export KEYID): %w", err)
		}
		k.pgp = append(k.pgp, el...)
		return nil
	}
	n := 0
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pub, err := parseSSHLine(line)
		if err != nil {
			return fmt.Errorf("line %d is not an SSH public key (authorized_keys or allowed_signers style): %w", i+1, err)
		}
		k.ssh = append(k.ssh, pub)
		n++
	}
	if n == 0 {
		return errors.New("holds no key: give an armored OpenPGP public key or SSH public key lines")
	}
	return nil
}

// parseSSHLine reads "type base64 [comment]", or an allowed_signers line
// "principals [options] type base64 [comment]".
func parseSSHLine(line string) (ssh.PublicKey, error) {
	fields := strings.Fields(line)
	for i := 0; i+1 < len(fields); i++ {
		if !isSSHLine(fields[i]) {
			continue
		}
		blob, err := base64.StdEncoding.DecodeString(fields[i+1])
		if err != nil {
			return nil, err
		}
		pub, err := ssh.ParsePublicKey(blob)
		if err != nil {
			return nil, err
		}
		if pub.Type() != fields[i] {
			return nil, fmt.Errorf("key type %s does not match the key %s", fields[i], pub.Type())
		}
		return pub, nil
	}
	return nil, errors.New("no key type such as ssh-ed25519 followed by the key")
}

// Verify checks c's signature against the keys and returns who signed, in
// words (an OpenPGP key's id and identity, an SSH key's fingerprint).
// Errors: ErrUnsigned, ErrUntrusted, wrapped with why.
func (k *Keys) Verify(c *object.Commit) (string, error) {
	sig := strings.TrimSpace(c.PGPSignature)
	if sig == "" {
		return "", ErrUnsigned
	}
	payload := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(payload); err != nil {
		return "", fmt.Errorf("cannot encode commit %s to check its signature: %w", c.Hash, err)
	}
	r, err := payload.Reader()
	if err != nil {
		return "", err
	}
	defer r.Close()
	var msg bytes.Buffer
	if _, err := msg.ReadFrom(r); err != nil {
		return "", err
	}
	switch {
	case strings.HasPrefix(sig, "-----BEGIN PGP SIGNATURE-----"):
		if len(k.pgp) == 0 {
			return "", fmt.Errorf("%w: an OpenPGP signature, and no OpenPGP key is listed", ErrUntrusted)
		}
		if strings.Count(sig, "-----BEGIN PGP SIGNATURE-----") > 1 {
			return "", fmt.Errorf("%w: more than one signature", ErrUntrusted)
		}
		e, err := openpgp.CheckArmoredDetachedSignature(k.pgp, bytes.NewReader(msg.Bytes()), strings.NewReader(sig), nil)
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrUntrusted, err)
		}
		who := fmt.Sprintf("OpenPGP key %X", e.PrimaryKey.Fingerprint)
		for name := range e.Identities {
			who += " (" + name + ")"
			break
		}
		return who, nil
	case strings.HasPrefix(sig, "-----BEGIN SSH SIGNATURE-----"):
		pub, err := k.verifySSH(msg.Bytes(), sig)
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrUntrusted, err)
		}
		return "SSH key " + ssh.FingerprintSHA256(pub), nil
	default:
		return "", fmt.Errorf("%w: a signature of a kind this host does not check (X.509?); sign with an OpenPGP or SSH key", ErrUntrusted)
	}
}

// sshsigMagic begins an sshsig blob and the data it signs.
const sshsigMagic = "SSHSIG"

// verifySSH checks an armored sshsig signature of message, namespace
// "git", made by one of the listed SSH keys.
func (k *Keys) verifySSH(message []byte, armored string) (ssh.PublicKey, error) {
	body := strings.TrimSpace(armored)
	body = strings.TrimPrefix(body, "-----BEGIN SSH SIGNATURE-----")
	body, ok := strings.CutSuffix(strings.TrimSpace(body), "-----END SSH SIGNATURE-----")
	if !ok {
		return nil, errors.New("the SSH signature is not armored as git writes it")
	}
	blob, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
	if err != nil {
		return nil, fmt.Errorf("the SSH signature is not base64: %w", err)
	}
	var s struct {
		Version   uint32
		PublicKey []byte
		Namespace string
		Reserved  []byte
		Hash      string
		Signature []byte
	}
	rest, ok := bytes.CutPrefix(blob, []byte(sshsigMagic))
	if !ok {
		return nil, errors.New("not an sshsig signature")
	}
	if err := ssh.Unmarshal(rest, &s); err != nil {
		return nil, fmt.Errorf("cannot decode the SSH signature: %w", err)
	}
	if s.Version != 1 {
		return nil, fmt.Errorf("sshsig version %d; this host checks version 1", s.Version)
	}
	if s.Namespace != "git" {
		return nil, fmt.Errorf("the SSH signature is for namespace %q, not git's", s.Namespace)
	}
	pub, err := ssh.ParsePublicKey(s.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("cannot read the signing key: %w", err)
	}
	if !k.trustsSSH(pub) {
		return nil, fmt.Errorf("signed by SSH key %s, which is not listed", ssh.FingerprintSHA256(pub))
	}
	var digest []byte
	switch s.Hash {
	case "sha256":
		h := sha256.Sum256(message)
		digest = h[:]
	case "sha512":
		h := sha512.Sum512(message)
		digest = h[:]
	default:
		return nil, fmt.Errorf("the SSH signature uses hash %q; sha256 or sha512 expected", s.Hash)
	}
	signed := append([]byte(sshsigMagic), ssh.Marshal(struct {
		Namespace string
		Reserved  []byte
		Hash      string
		Digest    []byte
	}{s.Namespace, s.Reserved, s.Hash, digest})...)
	var sig ssh.Signature
	if err := ssh.Unmarshal(s.Signature, &sig); err != nil {
		return nil, fmt.Errorf("cannot decode the SSH signature: %w", err)
	}
	if err := pub.Verify(signed, &sig); err != nil {
		return nil, fmt.Errorf("the SSH signature by %s does not match the commit: %w", ssh.FingerprintSHA256(pub), err)
	}
	return pub, nil
}

func (k *Keys) trustsSSH(pub ssh.PublicKey) bool {
	m := pub.Marshal()
	for _, t := range k.ssh {
		if bytes.Equal(t.Marshal(), m) {
			return true
		}
	}
	return false
}
