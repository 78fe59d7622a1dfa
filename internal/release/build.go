package release

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"aead.dev/minisign"
	"golang.org/x/mod/semver"

	"github.com/better-paas/updater/internal/atomicfile"
	"github.com/better-paas/updater/internal/signedsums"
)

// Package is the main package a release builds, relative to the module root.
const Package = "./cmd/better-paas-updater"

// Options say what Build builds. Version, Commit and Time are required.
type Options struct {
	// Dir is the module root to build in (the checkout); "" is the current
	// folder. Its README.md and LICENSE go into every archive.
	Dir string
	// Out is the folder the release is written to. It must be empty or not
	// exist yet, so that no file of an earlier release is published with
	// this one.
	Out string
	// Version is the release, vMAJOR.MINOR.PATCH[-pre] (ValidVersion).
	Version string
	// Commit is the commit built (stamped as main.commit); Time its time,
	// stamped as main.buildDate, used as every archive entry's mtime and as
	// the signature's timestamp.
	Commit string
	Time   time.Time
	// Key, when not nil, signs SHA256SUMS into SHA256SUMS.minisig.
	Key *minisign.PrivateKey
	// Targets defaults to the package's Targets; Jobs (default 2) is how
	// many builds run at once.
	Targets []Target
	Jobs    int
	// Go is the go command (default "go"); Log receives one line per step
	// (nil: discarded).
	Go  string
	Log io.Writer
}

// Result lists what Build wrote, as names inside Options.Out.
type Result struct {
	Archives []string // one per target, in the order of Targets
	Sums     string   // SHA256SUMS
	Sig      string   // SHA256SUMS.minisig, "" when unsigned
}

// ValidVersion reports whether v is a release version Build accepts:
// vMAJOR.MINOR.PATCH with an optional -prerelease and no +build suffix,
// in canonical form (no leading zeros; not the v1 or v1.2 shorthands).
func ValidVersion(v string) bool {
	return semver.IsValid(v) && semver.Canonical(v) == v
}

// LDFlags returns the -ldflags of a release build: stripped (-s -w), with
// main.version, main.commit and main.buildDate (t in RFC 3339, UTC).
func LDFlags(version, commit string, t time.Time) string {
	return "-s -w -X main.version=" + version + " -X main.commit=" + commit +
		" -X main.buildDate=" + t.UTC().Format(time.RFC3339)
}

// Build cross-compiles Package for every target (Jobs at a time), writes
// each archive with the binary, README.md and LICENSE, then SHA256SUMS over
// the archives and, with a Key, SHA256SUMS.minisig signed for Version at
// Time. Every file is written atomically; on error the files written so
// far stay in Out (a retry needs an empty Out again). The go build
// environment is fixed (CGO_ENABLED=0, GOFLAGS empty, GOAMD64=v1,
// GOARM64=v8.0, -trimpath, -buildvcs=false) so that the host's settings
// cannot change the bytes.
func Build(ctx context.Context, o Options) (Result, error) {
	if !ValidVersion(o.Version) {
		return Result{}, fmt.Errorf("cannot build release: version %q is not vMAJOR.MINOR.PATCH[-prerelease] (for example v1.2.3 or v1.3.0-rc.1)", o.Version)
	}
	if o.Commit == "" || strings.ContainsAny(o.Commit, " \t\n'\"") {
		return Result{}, fmt.Errorf("cannot build release: commit %q must be a git object name", o.Commit)
	}
	if o.Time.IsZero() {
		return Result{}, errors.New("cannot build release: the commit time is not set")
	}
	if o.Out == "" {
		return Result{}, errors.New("cannot build release: no output folder given")
	}
	targets, jobs, gocmd, log := o.Targets, o.Jobs, o.Go, o.Log
	if targets == nil {
		targets = Targets
	}
	if jobs <= 0 {
		jobs = 2
	}
	if gocmd == "" {
		gocmd = "go"
	}
	if log == nil {
		log = io.Discard
	}
	var docs []File
	for _, name := range []string{"README.md", "LICENSE"} {
		data, err := os.ReadFile(filepath.Join(o.Dir, name))
		if err != nil {
			return Result{}, fmt.Errorf("cannot build release: every archive carries %s: %w", name, err)
		}
		docs = append(docs, File{Name: name, Data: data, Mode: 0o644})
	}
	if err := emptyDir(o.Out); err != nil {
		return Result{}, err
	}
	tmp, err := os.MkdirTemp("", "release-build-")
	if err != nil {
		return Result{}, fmt.Errorf("cannot create build folder: %w", err)
	}
	defer os.RemoveAll(tmp)

	res := Result{Archives: make([]string, len(targets)), Sums: signedsums.SumsName}
	sums := make([]string, len(targets))
	errs := make([]error, len(targets))
	var logMu sync.Mutex
	logf := func(format string, args ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(log, format+"\n", args...)
	}
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				errs[i] = ctx.Err()
				return
			}
			logf("build %s", t)
			name, sum, err := buildTarget(ctx, o, gocmd, tmp, t, docs)
			res.Archives[i], sums[i], errs[i] = name, sum, err
			if err == nil {
				logf("wrote %s", filepath.Join(o.Out, name))
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Result{}, err
	}

	list := signedsums.Sums{}
	for i, name := range res.Archives {
		list[name] = sums[i]
	}
	text := list.Format()
	if err := atomicfile.WriteFile(filepath.Join(o.Out, signedsums.SumsName), text, 0o644); err != nil {
		return Result{}, err
	}
	logf("wrote %s", filepath.Join(o.Out, signedsums.SumsName))
	if o.Key == nil {
		return res, nil
	}
	sig := signedsums.Sign(*o.Key, text, o.Version, o.Time)
	pub := o.Key.Public().(minisign.PublicKey)
	if err := signedsums.Verify(pub, text, sig, o.Version); err != nil {
		return Result{}, fmt.Errorf("cannot sign %s: the signature does not verify: %w", signedsums.SumsName, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(o.Out, signedsums.SigName), sig, 0o644); err != nil {
		return Result{}, err
	}
	res.Sig = signedsums.SigName
	logf("wrote %s (key %s)", filepath.Join(o.Out, signedsums.SigName), pub)
	return res, nil
}

// buildTarget builds and archives one target and returns the archive's name
// and SHA-256.
func buildTarget(ctx context.Context, o Options, gocmd, tmp string, t Target, docs []File) (name, sum string, err error) {
	bin := filepath.Join(tmp, t.OS+"_"+t.Arch, Name)
	cmd := exec.CommandContext(ctx, gocmd, "build", "-trimpath", "-buildvcs=false",
		"-ldflags", LDFlags(o.Version, o.Commit, o.Time), "-o", bin, Package)
	cmd.Dir = o.Dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+t.OS, "GOARCH="+t.Arch,
		"GOFLAGS=", "GOAMD64=v1", "GOARM64=v8.0", "GOEXPERIMENT=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("cannot build %s for %s: %w\n%s", Package, t, err, out.Bytes())
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", "", fmt.Errorf("cannot read the %s binary: %w", t, err)
	}
	files := append([]File{{Name: Name, Data: data, Mode: 0o755}}, docs...)
	var archive bytes.Buffer
	stem := ArchiveStem(Name, o.Version, t)
	if err := WriteArchive(&archive, stem, files, o.Time); err != nil {
		return "", "", err
	}
	name = stem + ".tar.gz"
	if err := atomicfile.WriteFile(filepath.Join(o.Out, name), archive.Bytes(), 0o644); err != nil {
		return "", "", err
	}
	return name, signedsums.Sum(archive.Bytes()), nil
}

// emptyDir creates dir (0755) if it does not exist and refuses it when it
// has entries.
func emptyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create output folder: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("cannot read output folder: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("cannot build release into %s: it is not empty (it has %s); remove it first, as make release does, so no stale file is published", dir, entries[0].Name())
	}
	return nil
}
