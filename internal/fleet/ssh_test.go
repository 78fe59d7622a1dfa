package fleet

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/status"
)

// sshServer is an SSH server on 127.0.0.1 that lets one public key run
// git-upload-pack on the repos it serves: what a git host's SSH endpoint
// does, with the real git-upload-pack behind a real SSH handshake.
type sshServer struct {
	Addr    string
	HostKey ssh.PublicKey
	mu      sync.Mutex
	execs   []string // the commands asked for, as received
}

func newSSHServer(t *testing.T, authorized ssh.PublicKey, repos map[string]string) *sshServer {
	t.Helper()
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostSigner, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if bytes.Equal(k.Marshal(), authorized.Marshal()) {
			return nil, nil
		}
		return nil, errors.New("key not authorized")
	}}
	cfg.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sshServer{Addr: ln.Addr().String(), HostKey: hostSigner.PublicKey()}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serve(c, cfg, repos)
			}()
		}
	}()
	return s
}

func (s *sshServer) serve(c net.Conn, cfg *ssh.ServerConfig, repos map[string]string) {
	defer c.Close()
	conn, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	defer conn.Close()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			return
		}
		for req := range creqs {
			if req.Type != "exec" {
				_ = req.Reply(req.Type == "env", nil)
				continue
			}
			var cmd struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &cmd); err != nil {
				_ = req.Reply(false, nil)
				continue
			}
			s.mu.Lock()
			s.execs = append(s.execs, cmd.Command)
			s.mu.Unlock()
			// git-upload-pack '<path>', as git clients send it.
			name, arg, _ := strings.Cut(cmd.Command, " ")
			dir, ok := repos[strings.Trim(arg, "'")]
			if name != "git-upload-pack" || !ok {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			run := exec.Command("git-upload-pack", dir)
			run.Stdin, run.Stdout, run.Stderr = ch, ch, ch.Stderr()
			code := uint32(0)
			if err := run.Run(); err != nil {
				code = 1
			}
			var status [4]byte
			binary.BigEndian.PutUint32(status[:], code)
			_, _ = ch.SendRequest("exit-status", false, status[:])
			ch.Close()
		}
	}
}

// deployKey writes a new ed25519 private key (OpenSSH format, no
// passphrase) to dir/name with mode perm and returns its public key.
func deployKey(t *testing.T, dir, name string, perm os.FileMode) (string, ssh.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "fleet deploy key")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(block), perm); err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return path, sshPub
}

// TestSyncOverSSHWithADeployKey: desiredFrom.git.ssh fetches an ssh://
// fleet repo with a key file and checks the server's host key against a
// known_hosts file, with no SSH agent; a key the server does not accept,
// or a server whose key is not known, changes nothing; key files ssh
// itself would refuse stop the sync from being set up, naming the field.
func TestSyncOverSSHWithADeployKey(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "") // no agent: the key file alone (so not parallel)
	r := newFleetRepo(t)
	commit := r.commit(map[string]string{"fleet/desired.yaml": plainFile("v1.2.0")})
	keys := t.TempDir()
	keyFile, pub := deployKey(t, keys, "deploy", 0o600)
	srv := newSSHServer(t, pub, map[string]string{"/ops/fleet.git": r.Bare})
	knownHosts := filepath.Join(keys, "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(srv.Addr)}, srv.HostKey) + "\n"
	if err := os.WriteFile(knownHosts, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	url := "ssh://git@" + srv.Addr + "/ops/fleet.git"
	sshHost := func(key, known string) host {
		h := newHost(t, url, "web-1", "")
		h.Source.SSH = &config.SSHAuth{KeyFile: key, KnownHostsFile: known}
		return h
	}

	h := sshHost(keyFile, knownHosts)
	if res := syncOK(t, h.syncer(t)); res.Result != status.FleetApplied || res.Commit != commit {
		t.Fatalf("sync over ssh = %+v", res)
	}
	if v := desiredVersion(t, h); v != "v1.2.0" {
		t.Errorf("desired.yaml asks for %s, want v1.2.0", v)
	}
	srv.mu.Lock()
	execs := strings.Join(srv.execs, "; ")
	srv.mu.Unlock()
	if execs != "git-upload-pack '/ops/fleet.git'" {
		t.Errorf("the server was asked to run %q", execs)
	}

	refused := func(h host, says string) {
		t.Helper()
		res, err := h.syncer(t).Sync(t.Context())
		if err == nil || res.Result != status.FleetRefused || res.Reason != ReasonUnreachable || !strings.Contains(err.Error(), says) {
			t.Errorf("sync = %+v, %v; want Refused, Unreachable, saying %q", res, err, says)
		}
		if _, err := os.Stat(h.Desired); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("desired.yaml written: %v", err)
		}
	}
	otherKey, _ := deployKey(t, keys, "other", 0o600)
	refused(sshHost(otherKey, knownHosts), "unable to authenticate")
	_, otherHost := deployKey(t, keys, "unrelated", 0o600)
	wrongHosts := filepath.Join(keys, "known_hosts.other")
	if err := os.WriteFile(wrongHosts, []byte(knownhosts.Line([]string{knownhosts.Normalize(srv.Addr)}, otherHost)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	refused(sshHost(keyFile, wrongHosts), "key mismatch")

	loose, _ := deployKey(t, keys, "loose", 0o644)
	for _, tc := range []struct {
		name       string
		key, hosts string
		says       []string
	}{
		{"key readable by others", loose, knownHosts, []string{"desiredFrom.git.ssh.keyFile", "chmod 600"}},
		{"key missing", filepath.Join(keys, "none"), knownHosts, []string{"desiredFrom.git.ssh.keyFile", "no such file"}},
		{"not a key", knownHosts, knownHosts, []string{"desiredFrom.git.ssh.keyFile"}},
		{"known_hosts missing", keyFile, filepath.Join(keys, "none"), []string{"desiredFrom.git.ssh.knownHostsFile"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := sshHost(tc.key, tc.hosts)
			if tc.name == "not a key" {
				if err := os.Chmod(tc.key, 0o600); err != nil {
					t.Fatal(err)
				}
				defer os.Chmod(tc.key, 0o644)
			}
			_, err := New(Options{Source: h.Source, DesiredFile: h.Desired, StatusPath: h.Status, CloneDir: CloneDir(h.State)})
			if err == nil {
				t.Fatal("set up without complaint")
			}
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%v does not say %q", err, s)
				}
			}
		})
	}
}

func TestSSHUser(t *testing.T) {
	for u, want := range map[string]string{
		"ssh://git@host/ops/fleet.git":    "git",
		"ssh://deploy@host:2222/fleet":    "deploy",
		"ssh://host/ops/fleet.git":        "git",
		"fleet@git.example.com:ops/fleet": "fleet",
	} {
		if got := sshUser(u); got != want {
			t.Errorf("sshUser(%q) = %q, want %q", u, got, want)
		}
	}
}
