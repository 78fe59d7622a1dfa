package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/better-paas/updater/internal/strictyaml"
)

// APIVersion and Kind identify an updater.yaml document.
const (
	APIVersion = "updates.better-paas.io/v1"
	Kind       = "UpdaterConfig"
)

// ManagerExec names the embedded supervisor, the only service manager so far.
const ManagerExec = "exec"

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid config")

// Duration is a time.Duration written as a Go duration string ("90s", "10m").
type Duration struct{ time.Duration }

// UnmarshalJSON accepts a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"30s\" or \"10m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.Duration.String()) }

// Config is the content of updater.yaml.
type Config struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`

	// InstallDir is the git checkout of the app. Required.
	InstallDir string `json:"installDir"`
	// DataDir is the app's data, relative to InstallDir unless absolute.
	// The updater backs it up and never modifies it. Default "data".
	DataDir string `json:"dataDir,omitempty"`
	// StateDir holds status.yaml, the service pidfile and logs. Default
	// "/var/lib/better-paas-updater".
	StateDir string `json:"stateDir,omitempty"`
	// BackupDir holds backups of DataDir. Default "<stateDir>/backups".
	BackupDir string `json:"backupDir,omitempty"`
	// DesiredFile is desired.yaml. Default "<stateDir>/desired.yaml".
	DesiredFile string `json:"desiredFile,omitempty"`
	// HooksDir holds hook scripts. Default "<stateDir>/hooks".
	HooksDir string `json:"hooksDir,omitempty"`
	// Remote is the git remote releases are fetched from. Default "origin".
	Remote string `json:"remote,omitempty"`
	// ResyncInterval is how often the loop reconciles without an event. Default 5m.
	ResyncInterval Duration `json:"resyncInterval,omitempty"`
	// BackupsToKeep is how many backups retention keeps. Default 5.
	BackupsToKeep int `json:"backupsToKeep,omitempty"`

	Releases Releases `json:"releases,omitempty"`
	Timeouts Timeouts `json:"timeouts,omitempty"`
	Build    Build    `json:"build"`
	Service  Service  `json:"service"`
	Health   Health   `json:"health,omitempty"`

	// path is the file this was loaded from, for error messages.
	path string
}

// Source kinds for Releases.Source.
const (
	SourceAuto    = "auto"
	SourceGitHub  = "github"
	SourceGitTags = "git-tags"
)

// Releases says where versions come from. The repository is UPDATE_REPO:
// the environment variable, else the value stored with `repo set`, else the
// checkout's origin.
type Releases struct {
	// Source is "auto" (default: GitHub Releases when the repository is on
	// GitHub, else the remote's git tags), "github" or "git-tags".
	Source string `json:"source,omitempty"`
	// CacheTTL is how long a GitHub answer is reused without asking again.
	// Default 30m.
	CacheTTL Duration `json:"cacheTTL,omitempty"`
	GitHub   GitHub   `json:"github,omitempty"`
}

// GitHub configures the GitHub Releases source.
type GitHub struct {
	// APIURL is the API base; default https://api.github.com for
	// github.com and https://<host>/api/v3 for GitHub Enterprise.
	APIURL string `json:"apiURL,omitempty"`
	// TokenFile holds an API token (optional; else $GITHUB_TOKEN). Anonymous
	// clients get 60 requests an hour, which the cache keeps well within.
	TokenFile string `json:"tokenFile,omitempty"`
	// EnterpriseHosts are git hosts that run GitHub Enterprise.
	EnterpriseHosts []string `json:"enterpriseHosts,omitempty"`
}

// Timeouts bound the steps that do not have their own setting.
type Timeouts struct {
	Backup   Duration `json:"backup,omitempty"`   // default 30m
	Fetch    Duration `json:"fetch,omitempty"`    // default 5m
	Checkout Duration `json:"checkout,omitempty"` // default 5m
	Hook     Duration `json:"hook,omitempty"`     // each hook script; default 5m
}

// Build says how to rebuild the app from the checkout.
type Build struct {
	Backend  BuildStep `json:"backend"`
	Frontend BuildStep `json:"frontend,omitempty"`
}

// BuildStep is one build command. The command runs in InstallDir with
// $(VERSION) and $(OUTPUT) expanded Kubernetes style, and must write its
// result to $(OUTPUT): a path beside Output (Output+".new") that the
// updater swaps into place only when the build succeeded.
type BuildStep struct {
	Command []string `json:"command,omitempty"`
	// Output is the built file (backend, default "server") or folder
	// (frontend), relative to InstallDir.
	Output  string   `json:"output,omitempty"`
	Timeout Duration `json:"timeout,omitempty"` // default 10m
}

// Enabled reports whether the step has a command to run.
func (b BuildStep) Enabled() bool { return len(b.Command) > 0 }

// Service says how the app runs.
type Service struct {
	Manager     string      `json:"manager,omitempty"` // "exec" (default)
	Exec        ExecService `json:"exec,omitempty"`
	StopTimeout Duration    `json:"stopTimeout,omitempty"` // default 10s
}

// ExecService configures the embedded supervisor.
type ExecService struct {
	// Command starts the backend, run in InstallDir. Default ["./<backend output>"].
	Command []string `json:"command,omitempty"`
	Env     []string `json:"env,omitempty"`
}

// Health configures the health gate on the app's health endpoint.
type Health struct {
	URL              string   `json:"url,omitempty"`              // default http://127.0.0.1:8080/api/health
	ProbeTimeout     Duration `json:"probeTimeout,omitempty"`     // default 2s
	Interval         Duration `json:"interval,omitempty"`         // default 1s
	Deadline         Duration `json:"deadline,omitempty"`         // default 60s
	SuccessThreshold int      `json:"successThreshold,omitempty"` // default 3
}

// Path is the file the config was loaded from ("" when built in code).
func (c *Config) Path() string { return c.path }

// Load reads, defaults and validates updater.yaml.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot load %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("cannot load %s: %w", path, err)
	}
	return Parse(abs, data)
}

// Parse decodes data as the updater.yaml at path (used for messages and to
// resolve relative paths), then defaults and validates it.
func Parse(path string, data []byte) (*Config, error) {
	var c Config
	if err := strictyaml.Unmarshal(data, &c, 4<<20); err != nil {
		return nil, fmt.Errorf("cannot load %s: %w: %w", path, ErrInvalid, err)
	}
	c.path = path
	c.Default(filepath.Dir(path))
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Default fills in unset fields and makes every path absolute, relative
// paths resolving against base. It is idempotent.
func (c *Config) Default(base string) {
	setS := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	setD := func(d *Duration, v time.Duration) {
		if d.Duration == 0 {
			d.Duration = v
		}
	}
	abs := func(root string, p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(root, *p)
		}
		if *p != "" {
			*p = filepath.Clean(*p)
		}
	}
	setS(&c.APIVersion, APIVersion)
	setS(&c.Kind, Kind)
	abs(base, &c.InstallDir)
	setS(&c.StateDir, "/var/lib/better-paas-updater")
	abs(base, &c.StateDir)
	setS(&c.DataDir, "data")
	abs(c.InstallDir, &c.DataDir)
	setS(&c.BackupDir, filepath.Join(c.StateDir, "backups"))
	abs(base, &c.BackupDir)
	setS(&c.DesiredFile, filepath.Join(c.StateDir, "desired.yaml"))
	abs(base, &c.DesiredFile)
	setS(&c.HooksDir, filepath.Join(c.StateDir, "hooks"))
	abs(base, &c.HooksDir)
	setS(&c.Remote, "origin")
	setD(&c.ResyncInterval, 5*time.Minute)
	if c.BackupsToKeep == 0 {
		c.BackupsToKeep = 5
	}
	setS(&c.Releases.Source, SourceAuto)
	setD(&c.Releases.CacheTTL, 30*time.Minute)
	abs(base, &c.Releases.GitHub.TokenFile)
	setD(&c.Timeouts.Backup, 30*time.Minute)
	setD(&c.Timeouts.Fetch, 5*time.Minute)
	setD(&c.Timeouts.Checkout, 5*time.Minute)
	setD(&c.Timeouts.Hook, 5*time.Minute)

	setS(&c.Build.Backend.Output, "server")
	setD(&c.Build.Backend.Timeout, 10*time.Minute)
	setD(&c.Build.Frontend.Timeout, 10*time.Minute)
	if c.Build.Frontend.Enabled() {
		setS(&c.Build.Frontend.Output, "frontend/dist")
	}

	setS(&c.Service.Manager, ManagerExec)
	if len(c.Service.Exec.Command) == 0 {
		c.Service.Exec.Command = []string{"./" + filepath.ToSlash(c.Build.Backend.Output)}
	}
	setD(&c.Service.StopTimeout, 10*time.Second)

	setS(&c.Health.URL, "http://127.0.0.1:8080/api/health")
	setD(&c.Health.ProbeTimeout, 2*time.Second)
	setD(&c.Health.Interval, time.Second)
	setD(&c.Health.Deadline, 60*time.Second)
	if c.Health.SuccessThreshold == 0 {
		c.Health.SuccessThreshold = 3
	}
}

// Validate reports every problem found, each naming the field and the fix.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, a...)))
	}
	if c.APIVersion != APIVersion || c.Kind != Kind {
		bad("apiVersion/kind", "got %q/%q, want %q/%q", c.APIVersion, c.Kind, APIVersion, Kind)
	}
	if c.InstallDir == "" {
		bad("installDir", "required: set it to the git checkout of the app")
	}
	if c.InstallDir != "" && !within(c.InstallDir, c.DataDir) {
		// Backups and the never-touch promise are defined for data inside the install.
		bad("dataDir", "%s is not inside installDir %s", c.DataDir, c.InstallDir)
	}
	if c.DataDir == c.InstallDir {
		bad("dataDir", "must be a folder inside installDir, not installDir itself")
	}
	if !c.Build.Backend.Enabled() {
		bad("build.backend.command", "required: the command that builds the backend into $(OUTPUT)")
	}
	for name, b := range map[string]BuildStep{"build.backend": c.Build.Backend, "build.frontend": c.Build.Frontend} {
		if !b.Enabled() {
			continue
		}
		out := filepath.Join(c.InstallDir, b.Output)
		if filepath.IsAbs(b.Output) || !within(c.InstallDir, out) || out == c.InstallDir {
			bad(name+".output", "%q must be a relative path inside installDir", b.Output)
		}
		if within(c.DataDir, out) {
			bad(name+".output", "%q is inside dataDir, which updates never modify", b.Output)
		}
		if !containsOutput(b.Command) {
			bad(name+".command", "must pass $(OUTPUT) to the build so it writes beside the running version")
		}
	}
	switch c.Releases.Source {
	case SourceAuto, SourceGitHub, SourceGitTags:
	default:
		bad("releases.source", "%q is not a source; use %q, %q or %q", c.Releases.Source, SourceAuto, SourceGitHub, SourceGitTags)
	}
	if a := c.Releases.GitHub.APIURL; a != "" {
		if u, err := url.Parse(a); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("releases.github.apiURL", "%q is not an http(s) URL", a)
		}
	}
	if c.Service.Manager != ManagerExec {
		bad("service.manager", "%q is not supported; use %q", c.Service.Manager, ManagerExec)
	}
	u, err := url.Parse(c.Health.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("health.url", "%q is not an http(s) URL", c.Health.URL)
	}
	if c.Health.SuccessThreshold < 1 {
		bad("health.successThreshold", "must be at least 1")
	}
	if c.BackupsToKeep < 1 {
		bad("backupsToKeep", "must be at least 1")
	}
	for name, d := range map[string]Duration{
		"resyncInterval": c.ResyncInterval, "timeouts.backup": c.Timeouts.Backup,
		"timeouts.fetch": c.Timeouts.Fetch, "timeouts.checkout": c.Timeouts.Checkout,
		"timeouts.hook": c.Timeouts.Hook, "build.backend.timeout": c.Build.Backend.Timeout,
		"build.frontend.timeout": c.Build.Frontend.Timeout, "service.stopTimeout": c.Service.StopTimeout,
		"health.probeTimeout": c.Health.ProbeTimeout, "health.interval": c.Health.Interval,
		"health.deadline": c.Health.Deadline, "releases.cacheTTL": c.Releases.CacheTTL,
	} {
		if d.Duration < 0 {
			bad(name, "must not be negative")
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("cannot load %s: %w: %w", c.path, ErrInvalid, errors.Join(errs...))
}

// BackendBinary is the absolute path of the running backend binary.
func (c *Config) BackendBinary() string { return filepath.Join(c.InstallDir, c.Build.Backend.Output) }

// FrontendDir is the absolute path of the served frontend build ("" when
// the frontend is not built).
func (c *Config) FrontendDir() string {
	if !c.Build.Frontend.Enabled() {
		return ""
	}
	return filepath.Join(c.InstallDir, c.Build.Frontend.Output)
}

func within(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

func containsOutput(argv []string) bool {
	for _, a := range argv {
		if strings.Contains(a, "$(OUTPUT)") {
			return true
		}
	}
	return false
}
