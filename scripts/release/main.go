// Command release builds a release of the updater into a folder: `make
// release VERSION=v1.2.3` runs it as
//
//	go run ./scripts/release -version v1.2.3 -out dist
//
// It cross-compiles ./cmd/better-paas-updater for linux and darwin on amd64
// and arm64, archives each binary with README.md and LICENSE as
// better-paas-updater_<version>_<os>_<arch>.tar.gz, writes SHA256SUMS over
// the archives and, when a minisign secret key is configured, signs it into
// SHA256SUMS.minisig (package internal/release has the layout, package
// internal/signedsums the format). The same commit and key always give the
// same bytes: everything is stamped with the commit's time, not the clock.
//
// The signing key is the file given by -key or $MINISIGN_KEY_FILE, a
// minisign secret key, decrypted with $MINISIGN_PASSWORD when encrypted.
// Without one the release is built and left unsigned, and release says so.
// $SOURCE_DATE_EPOCH, when set, replaces the commit's time.
//
// A key pair is made with
//
//	go run ./scripts/release -keygen release.key
//
// which writes release.key (the secret key, mode 0600, encrypted with
// $MINISIGN_PASSWORD when set) and release.key.pub, and prints the public
// key line that updaters trust (selfUpdate.publicKey). minisign -G makes
// keys this command reads too.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"aead.dev/minisign"

	"github.com/better-paas/updater/internal/atomicfile"
	"github.com/better-paas/updater/internal/release"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

// run is main with its inputs and outputs passed in, for tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	version := fs.String("version", "", "the release version, vMAJOR.MINOR.PATCH[-prerelease] (required)")
	out := fs.String("out", "dist", "the folder to write the release into; must be empty or absent")
	dir := fs.String("dir", ".", "the git checkout (module root) to build")
	keyFile := fs.String("key", "", "minisign secret key file to sign SHA256SUMS with (default $MINISIGN_KEY_FILE; password in $MINISIGN_PASSWORD)")
	allowDirty := fs.Bool("allow-dirty", false, "build even though the work tree has uncommitted changes (a test build: it will not match its commit)")
	jobs := fs.Int("jobs", 2, "builds to run at once")
	keygen := fs.String("keygen", "", "instead of building, write a new key pair to `PATH` (secret, 0600) and PATH.pub")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: every input is a flag (-version, -out, -key)", fs.Args())
	}
	if *keygen != "" {
		return generateKey(*keygen, getenv("MINISIGN_PASSWORD"), stdout)
	}
	if *version == "" {
		return errors.New("no -version given: make release VERSION=v1.2.3")
	}
	if !release.ValidVersion(*version) {
		return fmt.Errorf("-version %q is not vMAJOR.MINOR.PATCH[-prerelease], for example v1.2.3 or v1.3.0-rc.1", *version)
	}

	co, err := release.ReadCheckout(ctx, *dir)
	if err != nil {
		return err
	}
	if len(co.Changes) > 0 {
		list := co.Changes
		if len(list) > 5 {
			list = append(list[:5:5], fmt.Sprintf("... and %d more", len(co.Changes)-5))
		}
		if !*allowDirty {
			return fmt.Errorf("the work tree has uncommitted changes, so the archives would not match commit %s (which they are stamped with):\n  %s\ncommit or remove them, or pass -allow-dirty for a test build",
				co.Commit, strings.Join(list, "\n  "))
		}
		fmt.Fprintf(stderr, "warning: building commit %s with uncommitted changes (-allow-dirty): this release does not match its commit\n", co.Commit)
	}
	when := co.Time
	if s := getenv("SOURCE_DATE_EPOCH"); s != "" {
		if when, err = release.SourceDateEpoch(s); err != nil {
			return err
		}
	}

	path := *keyFile
	if path == "" {
		path = getenv("MINISIGN_KEY_FILE")
	}
	var key *minisign.PrivateKey
	if path != "" {
		k, err := loadKey(path, getenv("MINISIGN_PASSWORD"))
		if err != nil {
			return err
		}
		key = &k
	}

	fmt.Fprintf(stdout, "release %s of commit %s (%s)\n", *version, co.Commit, when.Format(time.RFC3339))
	res, err := release.Build(ctx, release.Options{Dir: *dir, Out: *out, Version: *version, Commit: co.Commit,
		Time: when, Key: key, Jobs: *jobs, Log: stdout})
	if err != nil {
		return err
	}
	if res.Sig == "" {
		fmt.Fprintln(stdout, "SHA256SUMS not signed: no key configured (set MINISIGN_KEY_FILE)")
	}
	return nil
}

// loadKey reads a minisign secret key file, encrypted (minisign -G, or
// -keygen with a password) or not (minisign -G -W, -keygen without one).
func loadKey(path, password string) (minisign.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return minisign.PrivateKey{}, fmt.Errorf("cannot read the signing key (MINISIGN_KEY_FILE or -key): %w", err)
	}
	var key minisign.PrivateKey
	if minisign.IsEncrypted(data) {
		if password == "" {
			return key, fmt.Errorf("cannot decrypt the signing key %s: it is encrypted and MINISIGN_PASSWORD is not set", path)
		}
		if key, err = minisign.DecryptKey(password, data); err != nil {
			return key, fmt.Errorf("cannot decrypt the signing key %s: %w (is MINISIGN_PASSWORD right?)", path, err)
		}
		return key, nil
	}
	if err := key.UnmarshalText(data); err != nil {
		return key, fmt.Errorf("cannot read the signing key %s: %w (want a minisign secret key file, as -keygen or minisign -G writes)", path, err)
	}
	return key, nil
}

// generateKey writes a new key pair to path (secret) and path+".pub". Both
// must not exist: a key is never overwritten.
func generateKey(path, password string, stdout io.Writer) error {
	pub, priv, err := minisign.GenerateKey(nil)
	if err != nil {
		return fmt.Errorf("cannot generate a key: %w", err)
	}
	var secret []byte
	if password != "" {
		secret, err = minisign.EncryptKey(password, priv)
	} else {
		secret, err = priv.MarshalText()
	}
	if err != nil {
		return fmt.Errorf("cannot encode the secret key: %w", err)
	}
	pubText, _ := pub.MarshalText()
	secret, pubText = withNewline(secret), withNewline(pubText)
	if _, err := os.Lstat(path + ".pub"); err == nil {
		return fmt.Errorf("cannot write %s.pub: it exists (a key is never overwritten; remove it or pick another path)", path)
	}
	if err := atomicfile.CreateFile(path, secret, 0o600); err != nil {
		return fmt.Errorf("%w (a key is never overwritten; remove it or pick another path)", err)
	}
	if err := atomicfile.CreateFile(path+".pub", pubText, 0o644); err != nil {
		return err
	}
	state := "encrypted with MINISIGN_PASSWORD"
	if password == "" {
		state = "NOT encrypted: set MINISIGN_PASSWORD to encrypt it"
	}
	fmt.Fprintf(stdout, "wrote %s (secret key, %s) and %s.pub\n", path, state, path)
	fmt.Fprintf(stdout, "public key: %s\n", pub)
	fmt.Fprintf(stdout, "Updaters trust it as selfUpdate.publicKey; store %s's text as the repository secret MINISIGN_SECRET_KEY (and the password as MINISIGN_PASSWORD) for .github/workflows/release.yml.\n", path)
	return nil
}

// withNewline ends text with a newline, as a text file should.
func withNewline(text []byte) []byte {
	if len(text) > 0 && text[len(text)-1] != '\n' {
		return append(text, '\n')
	}
	return text
}
