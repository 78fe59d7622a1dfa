package updaterepo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/better-paas/updater/internal/apiversion"
	"github.com/better-paas/updater/internal/atomicfile"
)

// EnvVar is the environment variable that names the update repository.
const EnvVar = "UPDATE_REPO"

// APIVersion and Kind identify the stored file.
const (
	APIVersion = apiversion.V1
	Kind       = "UpdateRepo"
)

// Origin says which source Resolve took the repository from. Its text is
// meant for humans ("update repository: o/n (from git remote origin)").
type Origin string

// The three sources, in the order Resolve consults them.
const (
	FromEnv    Origin = "environment variable UPDATE_REPO"
	FromStored Origin = "stored value (better-paas-updater repo set)"
	FromRemote Origin = "git remote origin"
)

// FromUnit is the Origin of a value read from the Environment= of the
// systemd unit named unit, the environment step when the updater's own
// environment has no UPDATE_REPO.
func FromUnit(unit string) Origin {
	return Origin("environment variable UPDATE_REPO in Environment= of the systemd unit " + unit)
}

// fixHint lists the three ways to choose the repository.
const fixHint = "set the environment variable UPDATE_REPO=OWNER/NAME (for example Environment=UPDATE_REPO=your-org/better-paas in the systemd unit), " +
	"run better-paas-updater repo set OWNER/NAME, " +
	"or add a git remote origin to the checkout (git remote add origin https://github.com/OWNER/NAME.git)"

// Resolver finds the update repository. The zero value reads only the
// environment. It holds no state: every call reads its sources afresh, so
// a changed environment, stored file or remote takes effect on the next
// call. Safe for concurrent use when its funcs are.
type Resolver struct {
	// Getenv reads an environment variable; nil means os.Getenv.
	Getenv func(string) string
	// StoreFile holds the value of "repo set", for example
	// <stateDir>/update-repo.yaml. "" disables the stored source.
	StoreFile string
	// RemoteURL returns the URL of the checkout's remote origin, or ""
	// when there is none; nil disables the remote source. Any error it
	// returns is treated as "no remote" and kept in the ErrNoRepo error,
	// so it must not quote credentials (gitrepo's RemoteURL does not).
	RemoteURL func() (string, error)
	// Unit names the systemd unit that runs the app, and UnitEnv returns
	// its Environment= entries (NAME=value); with UnitEnv set, the unit's
	// UPDATE_REPO is read when the updater's own environment has none,
	// as part of the environment step (Origin FromUnit(Unit)). An error
	// from UnitEnv counts as "not set there".
	Unit    string
	UnitEnv func() ([]string, error)
	// EnterpriseHosts are GitHub Enterprise hosts ("ghe.example.com",
	// optionally with a scheme or port); a repository on one of them gets
	// GitHubEnterprise set, so IsGitHub reports true.
	EnterpriseHosts []string
}

// Resolve returns the repository to check and the source it came from.
// The first source that is set wins: UPDATE_REPO (empty or white space
// counts as unset), then the stored value, then the remote origin. Errors:
//
//   - a set source that is invalid (a malformed UPDATE_REPO, a corrupt
//     stored file): ErrInvalid, naming the source and its fix, with that
//     source as the Origin; Resolve does not fall through to a lower source;
//   - a remote origin that is a local path or file:// URL: ErrNotHosted
//     with Origin FromRemote; the caller reads the checkout's git tags;
//   - a remote origin URL that is not OWNER/NAME (a GitLab subgroup):
//     ErrInvalid with Origin FromRemote and the fix;
//   - nothing set and no remote: ErrNoRepo listing the three ways to set
//     one, with Origin "".
//
// Resolve does not check that the repository exists or is on GitHub; use
// Repo.IsGitHub to pick the release source.
func (r Resolver) Resolve() (Repo, Origin, error) {
	getenv := r.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if v := strings.TrimSpace(getenv(EnvVar)); v != "" {
		repo, err := Parse(v)
		if err != nil {
			return Repo{}, FromEnv, fmt.Errorf("cannot use %s: %w; set it to OWNER/NAME or HOST/OWNER/NAME, or unset it to use the stored value or the git remote",
				FromEnv, explicit(err, EnvVar))
		}
		return r.mark(repo), FromEnv, nil
	}
	if v := r.unitValue(); v != "" {
		from := FromUnit(r.Unit)
		repo, err := Parse(v)
		if err != nil {
			return Repo{}, from, fmt.Errorf("cannot use %s: %w; set it to OWNER/NAME or HOST/OWNER/NAME in the unit (then systemctl daemon-reload), or remove it to use the stored value or the git remote",
				from, explicit(err, EnvVar))
		}
		return r.mark(repo), from, nil
	}

	repo, ok, err := r.Stored()
	if err != nil {
		return Repo{}, FromStored, err
	}
	if ok {
		return repo, FromStored, nil
	}

	var remoteErr error
	if r.RemoteURL != nil {
		u, err := r.RemoteURL()
		switch {
		case err != nil:
			remoteErr = err
		case strings.TrimSpace(u) != "":
			repo, err := Parse(u)
			if errors.Is(err, ErrNotHosted) {
				return Repo{}, FromRemote, fmt.Errorf("cannot use %s: %w; to check a hosted repository instead, set UPDATE_REPO=OWNER/NAME or run better-paas-updater repo set OWNER/NAME",
					FromRemote, err)
			}
			if err != nil {
				return Repo{}, FromRemote, fmt.Errorf("cannot use %s: %w; set UPDATE_REPO=OWNER/NAME or run better-paas-updater repo set OWNER/NAME to choose the repository explicitly",
					FromRemote, err)
			}
			return r.mark(repo), FromRemote, nil
		}
	}
	if remoteErr != nil {
		return Repo{}, "", fmt.Errorf("cannot resolve update repository: %w (reading git remote origin: %w); %s", ErrNoRepo, remoteErr, fixHint)
	}
	return Repo{}, "", fmt.Errorf("cannot resolve update repository: %w; %s", ErrNoRepo, fixHint)
}

// explicit turns ErrNotHosted into ErrInvalid for a source a human set on
// purpose: a path there is a mistake, not a request to use git tags.
func explicit(err error, source string) error {
	var pe *ParseError
	if errors.As(err, &pe) && errors.Is(pe.Kind, ErrNotHosted) {
		c := *pe
		c.Kind = ErrInvalid
		c.Reason += "; " + source + " must name a hosted repository"
		return &c
	}
	return err
}

// storeDoc is the stored file.
type storeDoc struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Repo       string `json:"repo"`
}

// storeHeader explains the file to someone who finds it in the state folder.
const storeHeader = "# Written by \"better-paas-updater repo set\". UPDATE_REPO, when set, overrides it.\n"

// Stored returns the stored repository; ok is false when StoreFile is ""
// or does not exist. A file that cannot be decoded, has the wrong
// apiVersion/kind or names no valid repository is ErrInvalid, naming the
// file and the fix; a file that cannot be read is that I/O error.
func (r Resolver) Stored() (repo Repo, ok bool, err error) {
	if r.StoreFile == "" {
		return Repo{}, false, nil
	}
	data, err := os.ReadFile(r.StoreFile)
	if errors.Is(err, fs.ErrNotExist) {
		return Repo{}, false, nil
	}
	if err != nil {
		return Repo{}, false, fmt.Errorf("cannot read stored update repository %s: %w", r.StoreFile, err)
	}
	corrupt := func(err error) (Repo, bool, error) {
		return Repo{}, false, fmt.Errorf("cannot read stored update repository %s: %w; run better-paas-updater repo set OWNER/NAME to rewrite it, or delete the file",
			r.StoreFile, err)
	}
	var doc storeDoc
	if err := yaml.UnmarshalStrict(data, &doc); err != nil {
		return corrupt(fmt.Errorf("%w: cannot decode it: %v", ErrInvalid, err))
	}
	if doc.APIVersion != APIVersion || doc.Kind != Kind {
		return corrupt(fmt.Errorf("%w: apiVersion/kind is %q/%q, want %q/%q", ErrInvalid, doc.APIVersion, doc.Kind, APIVersion, Kind))
	}
	repo, err = Parse(doc.Repo)
	if err != nil {
		return corrupt(explicit(err, "repo"))
	}
	return r.mark(repo), true, nil
}

// Store persists repo in StoreFile, replacing any previous value
// atomically (a crash leaves the old or the new file, never a torn one).
// The folder must exist. Storing the same repo twice is a no-op in effect.
// ErrInvalid when repo does not name a valid repository.
func (r Resolver) Store(repo Repo) error {
	if r.StoreFile == "" {
		return errors.New("cannot store update repository: no store file configured")
	}
	// Round-trip through Parse: it validates and normalises, and proves
	// that Stored can read back what is written.
	valid, err := Parse(repo.String())
	switch {
	case repo.Owner == "" || repo.Name == "":
		err = &ParseError{Input: redact(repo.String()), Kind: ErrInvalid, Reason: "owner and name are both required"}
	case err == nil && (valid.Owner != repo.Owner || valid.Name != repo.Name):
		// Owner "x.com" and Name "o/n" print as a different, valid repo.
		err = &ParseError{Input: redact(repo.String()), Kind: ErrInvalid, Reason: "owner and name must each be a single path part"}
	}
	if err != nil {
		return fmt.Errorf("cannot store update repository: %w", explicit(err, "the repository"))
	}
	b, err := yaml.Marshal(storeDoc{APIVersion: APIVersion, Kind: Kind, Repo: valid.String()})
	if err != nil {
		return fmt.Errorf("cannot encode update repository: %w", err)
	}
	if err := atomicfile.WriteFile(r.StoreFile, append([]byte(storeHeader), b...), 0o644); err != nil {
		return fmt.Errorf("cannot store update repository: %w", err)
	}
	return nil
}

// Clear removes the stored value, so Resolve falls back to the git remote.
// Idempotent: a missing file (or StoreFile "") is success.
func (r Resolver) Clear() error {
	if r.StoreFile == "" {
		return nil
	}
	if err := os.Remove(r.StoreFile); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("cannot remove stored update repository: %w", err)
	}
	return atomicfile.SyncDir(filepath.Dir(r.StoreFile))
}

// mark sets GitHubEnterprise when repo's host is one of EnterpriseHosts.
func (r Resolver) mark(repo Repo) Repo {
	for _, h := range r.EnterpriseHosts {
		if normaliseHost(h) == repo.Host && repo.Host != "" {
			repo.GitHubEnterprise = true
		}
	}
	return repo
}

// normaliseHost lets EnterpriseHosts be written as a host, a host:port or
// a URL, in any case, and compares it the way Parse normalises Host.
func normaliseHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	if i := strings.Index(h, "://"); i >= 0 {
		h = h[i+3:]
	}
	if i := strings.Index(h, "/"); i >= 0 {
		h = h[:i]
	}
	return strings.TrimSuffix(h, ":443")
}

// unitValue returns the last UPDATE_REPO= of the unit's environment,
// trimmed; "" when there is none or it cannot be read.
func (r Resolver) unitValue() string {
	if r.UnitEnv == nil {
		return ""
	}
	env, err := r.UnitEnv()
	if err != nil {
		return ""
	}
	v := ""
	for _, kv := range env {
		if name, val, ok := strings.Cut(kv, "="); ok && name == EnvVar {
			v = val
		}
	}
	return strings.TrimSpace(v)
}
