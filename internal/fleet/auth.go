package fleet

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"

	"github.com/better-paas/updater/internal/config"
)

// sshAuth returns the authentication an ssh fleet URL is fetched with when
// desiredFrom.git.ssh names a key: the key, and the host keys the server
// may present. nil (go-git's default: the SSH agent and the user's
// known_hosts) without an ssh block. It reads the files now, so a daemon
// that could never fetch does not start: a key file that is missing, can
// be read by others than its owner (ssh refuses those too), needs a
// passphrase or does not parse, or a known_hosts file that is missing or
// does not parse, is an error naming the field.
func sshAuth(g config.GitSource) (transport.AuthMethod, error) {
	s := g.SSH
	if s == nil {
		return nil, nil
	}
	const f = "desiredFrom.git.ssh."
	fi, err := os.Stat(s.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("%skeyFile: %w", f, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%skeyFile: %s is readable by others (mode %04o), as ssh refuses too; chmod 600 %s", f, s.KeyFile, perm, s.KeyFile)
	}
	pem, err := os.ReadFile(s.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("%skeyFile: %w", f, err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	var needsPass *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &needsPass):
		return nil, fmt.Errorf("%skeyFile: %s needs a passphrase, which the daemon cannot type; give it a deploy key without one (ssh-keygen -t ed25519 -N '')", f, s.KeyFile)
	case err != nil:
		return nil, fmt.Errorf("%skeyFile: %s is not a private key ssh can read: %w", f, s.KeyFile, err)
	}
	auth := &gitssh.PublicKeys{User: sshUser(g.URL), Signer: signer}
	if s.KnownHostsFile != "" {
		cb, err := gitssh.NewKnownHostsCallback(s.KnownHostsFile)
		if err != nil {
			return nil, fmt.Errorf("%sknownHostsFile: %s: %w", f, s.KnownHostsFile, err)
		}
		auth.HostKeyCallback = cb
	}
	return auth, nil
}

// sshUser is the user an SSH URL names (ssh://user@host/..., user@host:...),
// "git" when it names none, as the git hosts expect.
func sshUser(u string) string {
	if p, err := url.Parse(u); err == nil && p.Scheme == "ssh" {
		if p.User != nil && p.User.Username() != "" {
			return p.User.Username()
		}
		return "git"
	}
	if at := strings.Index(u, "@"); at > 0 {
		return u[:at]
	}
	return "git"
}
