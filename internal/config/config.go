package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/better-paas/updater/hooks"
	"github.com/better-paas/updater/internal/apiversion"
	"github.com/better-paas/updater/internal/bytesize"
	"github.com/better-paas/updater/internal/command"
	"github.com/better-paas/updater/internal/service"
	"github.com/better-paas/updater/internal/strictyaml"
)

// APIVersion and Kind identify an updater.yaml document.
const (
	APIVersion = apiversion.V1
	Kind       = "UpdaterConfig"
)

// Service managers: the embedded supervisor, or a systemd unit driven
// through systemctl.
const (
	ManagerExec    = "exec"
	ManagerSystemd = "systemd"
)

// DefaultSystemdUnit is the unit service.systemd.unit names by default, the
// one the product page installs.
const DefaultSystemdUnit = "better-paas-backend.service"

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

// Size is a byte count written as people write one ("512MiB", "1GiB",
// "100MB"; see bytesize.Parse).
type Size uint64

// UnmarshalJSON accepts a size string or a plain number of bytes.
func (s *Size) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	var text string
	switch v := v.(type) {
	case string:
		text = v
	case float64:
		text = strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return fmt.Errorf("size must be a string such as \"512MiB\"")
	}
	n, err := bytesize.Parse(text)
	if err != nil {
		return err
	}
	*s = Size(n)
	return nil
}

// MarshalJSON writes the number of bytes.
func (s Size) MarshalJSON() ([]byte, error) { return json.Marshal(uint64(s)) }

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
	// BackupsToKeep is how many backups retention keeps in total (the
	// current update's and the last known good version's included, never
	// removed; failed attempts' pruned first), and how many copies of
	// data/ replaced by restores it keeps. Default 5.
	BackupsToKeep int `json:"backupsToKeep,omitempty"`
	// Backup says what is backed up besides dataDir. omitzero keeps the
	// digest of a config without it what it was before it existed.
	Backup Backup `json:"backup,omitzero"`

	Releases Releases `json:"releases,omitempty"`
	Timeouts Timeouts `json:"timeouts,omitempty"`
	Build    Build    `json:"build"`
	Service  Service  `json:"service"`
	Health   Health   `json:"health,omitempty"`
	// Hooks says how hook scripts are treated. Not part of Digest: hooks
	// never blame a release (HookFailed is retried), so no failure record
	// depends on it.
	Hooks Hooks `json:"hooks,omitzero"`
	// Artifact says where a release's backend binary and frontend come
	// from: ArtifactSource (default) builds them from the checkout with
	// build.*; ArtifactPrebuilt downloads the release's signed assets as
	// prebuilt says, so the host needs no Go, Node or pnpm.
	Artifact string   `json:"artifact,omitempty"`
	Prebuilt Prebuilt `json:"prebuilt,omitzero"`
	// SelfUpdate makes the daemon follow its own releases. Not part of
	// Digest: which updater runs has no bearing on whether a release of
	// the app installs.
	SelfUpdate SelfUpdate `json:"selfUpdate,omitzero"`
	// API is the HTTP API and page the daemon serves. Not part of Digest:
	// where the dashboard reaches the daemon has no bearing on whether a
	// release installs, so changing it lifts no failure record.
	API API `json:"api,omitzero"`
	// DesiredFrom makes the daemon write desired.yaml from a fleet repo
	// (GitOps, internal/fleet). Not part of Digest: where desired.yaml
	// comes from has no bearing on whether a release installs.
	DesiredFrom DesiredFrom `json:"desiredFrom,omitzero"`

	// path is the file this was loaded from, for error messages.
	path string
}

// DefaultHookMaxRetries is hooks.maxRetries when unset.
const DefaultHookMaxRetries = 10

// Hooks configures the hook scripts in HooksDir; each script's timeout
// is timeouts.hook.
type Hooks struct {
	// MaxRetries bounds how often exit code 21 ("retry later") may hold
	// one update: each hold keeps the completed steps, journals the
	// operation at the step and retries it with the loop's backoff (1 s
	// doubling to 5 min). The next exit 21 past it fails the step like
	// any other hook failure (HookFailed: rolled back, retried later).
	// Default 10; at least 1.
	MaxRetries int `json:"maxRetries,omitempty"`
}

// Backup says what each update backs up besides dataDir.
type Backup struct {
	// Paths are files and folders the app writes beside dataDir (a .env,
	// migrations generated into the install), relative to installDir and
	// slash-separated as written ("migrations", ".env"). Each is backed up
	// with dataDir before every update (hot and cold pass, incremental,
	// verified) and restored with it by `backups restore`. A path missing
	// when the backup is taken is recorded as missing, and a restore of
	// that backup moves the one that exists then aside. Each must be one
	// git does not track, in the running version or the next (an update
	// that finds one tracked stalls with reason DataTracked), clean, inside
	// installDir, not installDir itself, not .git, neither inside nor
	// holding dataDir or a build output, listed once and not inside
	// another entry. Default: none.
	Paths []string `json:"paths,omitempty"`
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
	Hook     Duration `json:"hook,omitempty"`     // each hook script; default hooks.DefaultTimeout (5m)
	// Download bounds the download step of artifact: prebuilt (all of a
	// release's assets); default 30m.
	Download Duration `json:"download,omitzero"`
}

// Build says how to rebuild the app from the checkout.
type Build struct {
	// Env is NAME=value entries every build command gets, on top of the
	// daemon's environment and the defaults BuildEnv adds; an entry here
	// overrides both. Values may use $(INSTALL_DIR), $(DATA_DIR) and
	// $(STATE_DIR), expanded at load. VERSION, COMMIT and OUTPUT are set
	// by the updater for each build and cannot be set here.
	Env      []string  `json:"env,omitempty"`
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
	Manager     string         `json:"manager,omitempty"` // "exec" (default) or "systemd"
	Exec        ExecService    `json:"exec,omitempty"`
	Systemd     SystemdService `json:"systemd,omitzero"`
	StopTimeout Duration       `json:"stopTimeout,omitempty"` // default 10s
}

// ExecService configures the embedded supervisor.
//
// Command and Env may use $(INSTALL_DIR), $(DATA_DIR) and $(STATE_DIR),
// which Parse replaces with the absolute folders of this file, so the
// app's idea of its data folder cannot disagree with the one the updater
// backs up. $$ is a literal $. Any other $(NAME) is refused at load,
// $(VERSION) included: the supervisor starts whatever version is checked
// out, with the command fixed when updater.yaml is loaded.
type ExecService struct {
	// Command starts the backend, run in InstallDir. Default ["./<backend output>"].
	Command []string `json:"command,omitempty"`
	// Env is NAME=value entries added to the daemon's environment. Its
	// ADDR= or PORT= entry also gives the default health.url, unless
	// Listen is set.
	Env []string `json:"env,omitempty"`
	// Listen, when set, is the app's address (host:port, or
	// unix:/absolute/path): the supervisor owns that listening socket and
	// gives it to every backend it starts with the systemd
	// socket-activation protocol (fd 3, LISTEN_FDS=1, LISTEN_FDNAMES=http,
	// LISTEN_PID), so that connections wait in the socket's backlog while
	// an update, a rollback or a restart replaces the backend, instead of
	// being refused. A host:port gives the default health.url. Only with
	// service.manager: exec; with systemd, a .socket unit does the same.
	Listen string `json:"listen,omitempty"`
}

// SystemdService configures service.manager: systemd. The unit itself
// (ExecStart=, Environment=, Restart=) is the administrator's: the updater
// only starts, stops and observes it through systemctl, and the unit must
// run the install's backend binary.
type SystemdService struct {
	// Unit is the unit's name, default better-paas-backend.service; a
	// name without a suffix gets ".service".
	Unit string `json:"unit,omitempty"`
}

// Health configures the health gate on the app's health endpoint.
type Health struct {
	// URL is the app's health endpoint. When unset it is derived from
	// service.exec.listen when that is host:port (http://host:port/api/health,
	// a wildcard host probing loopback as below), else from
	// service.exec.env: the last ADDR=host:port entry gives
	// http://host:port/api/health (an empty or wildcard host, "" "0.0.0.0"
	// or "::", probes 127.0.0.1 or [::1]); without ADDR, the last PORT=n
	// entry gives http://127.0.0.1:n/api/health; without either, URL is
	// required. There is no fixed default: a gate probing another port
	// than the app listens on fails every update.
	URL string `json:"url,omitempty"`
	// AllowRemote permits a URL whose host is not loopback (127.0.0.0/8,
	// ::1, localhost). Off by default: the gate must hear from this
	// host's app, not from a load balancer or another host answering for
	// it while the local app is down.
	AllowRemote      bool     `json:"allowRemote,omitempty"`
	ProbeTimeout     Duration `json:"probeTimeout,omitempty"`     // default 2s
	Interval         Duration `json:"interval,omitempty"`         // default 1s
	Deadline         Duration `json:"deadline,omitempty"`         // default 60s
	SuccessThreshold int      `json:"successThreshold,omitempty"` // default 3
	// FailureThreshold: after the app first answers, this many failing
	// answers in a row fail the health gate early, without waiting for
	// the deadline. Default 3; at least 1.
	FailureThreshold int `json:"failureThreshold,omitempty"`

	// derivedFrom names the env entry URL was derived from, for messages.
	derivedFrom string
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
// resolve relative paths), then defaults and validates it, then expands
// $(INSTALL_DIR), $(DATA_DIR) and $(STATE_DIR) in service.exec.command,
// service.exec.env and build.env. The result is final: its fields hold
// the expanded values (and $$ became $), so it is meant to be used, not
// written back as updater.yaml.
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
	vars := c.folderVars()
	c.Service.Exec.Command = command.Expand(c.Service.Exec.Command, vars)
	c.Service.Exec.Env = command.Expand(c.Service.Exec.Env, vars)
	c.Build.Env = command.Expand(c.Build.Env, vars)
	return &c, nil
}

// folderVars are the names service.exec and build.env may use.
func (c *Config) folderVars() map[string]string {
	return map[string]string{"INSTALL_DIR": c.InstallDir, "DATA_DIR": c.DataDir, "STATE_DIR": c.StateDir}
}

// Digest is the hex SHA-256 of the config as loaded (defaulted, paths
// absolute, $(…) expanded), encoded as JSON with the fields in their
// declared order. Comments, formatting and writing out a default leave
// it alone; any change of a setting that can decide whether a release
// installs changes it, and so may a new updater version that adds such a
// setting or changes a default. A record made under one digest (a failed
// version) can be lifted when it changes. The api block is left out: it
// says how the daemon is reached, not how the app is built or run; the
// hooks block too: hook failures never blame a release.
func (c *Config) Digest() string {
	cc := *c
	cc.API = API{}
	cc.Hooks = Hooks{}
	cc.SelfUpdate = SelfUpdate{}
	cc.DesiredFrom = DesiredFrom{}
	if !cc.IsPrebuilt() {
		// A source build's digest is what it was before artifact
		// existed, so its failure records still hold after an upgrade.
		cc.Artifact, cc.Prebuilt, cc.Timeouts.Download = "", Prebuilt{}, Duration{}
	}
	b, err := json.Marshal(&cc)
	if err != nil {
		// Config holds strings, numbers, booleans and durations only.
		panic(fmt.Sprintf("config: cannot encode config: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Default fills in unset fields and makes every path absolute, relative
// paths resolving against base; health.url is derived from the service's
// ADDR= or PORT= entry when unset (see Health.URL). It is idempotent. It
// does not expand $(…): Parse does, after Validate.
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
	if len(c.Backup.Paths) == 0 {
		c.Backup.Paths = nil // "paths: []", the default written out, leaves the digest alone
	}
	setS(&c.Releases.Source, SourceAuto)
	setD(&c.Releases.CacheTTL, 30*time.Minute)
	abs(base, &c.Releases.GitHub.TokenFile)
	setD(&c.Timeouts.Backup, 30*time.Minute)
	setD(&c.Timeouts.Fetch, 5*time.Minute)
	setD(&c.Timeouts.Checkout, 5*time.Minute)
	setD(&c.Timeouts.Hook, hooks.DefaultTimeout)
	setD(&c.Timeouts.Download, 30*time.Minute)
	if c.Hooks.MaxRetries == 0 {
		c.Hooks.MaxRetries = DefaultHookMaxRetries
	}

	setS(&c.Artifact, ArtifactSource)
	c.defaultPrebuilt()
	c.SelfUpdate.defaults()
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
	if c.Service.Manager == ManagerSystemd {
		setS(&c.Service.Systemd.Unit, DefaultSystemdUnit)
		if !strings.Contains(c.Service.Systemd.Unit, ".") {
			c.Service.Systemd.Unit += ".service"
		}
	}

	if c.Health.URL == "" {
		c.Health.URL, c.Health.derivedFrom = healthURLFromListen(c.Service.Exec.Listen)
	}
	if c.Health.URL == "" && c.Service.Exec.Listen == "" {
		c.Health.URL, c.Health.derivedFrom = healthURLFromEnv(c.Service.Exec.Env)
	}
	setD(&c.Health.ProbeTimeout, 2*time.Second)
	setD(&c.Health.Interval, time.Second)
	setD(&c.Health.Deadline, 60*time.Second)
	if c.Health.SuccessThreshold == 0 {
		c.Health.SuccessThreshold = 3
	}
	if c.Health.FailureThreshold == 0 {
		c.Health.FailureThreshold = 3
	}
	c.API.defaultAPI()
	c.DesiredFrom.defaults(base)
}

// healthURLFromListen derives the health URL from service.exec.listen when
// it is host:port; "" for a unix socket or an address that does not
// parse (Validate says why).
func healthURLFromListen(listen string) (u, from string) {
	a, err := service.ParseListen(listen)
	if listen == "" || err != nil || a.Network != "tcp" {
		return "", ""
	}
	host, p, _ := net.SplitHostPort(a.Address)
	return "http://" + net.JoinHostPort(loopbackFor(host), p) + "/api/health", "service.exec.listen " + listen
}

// loopbackFor is the address to probe an app listening on host at: a
// wildcard host is probed on loopback.
func loopbackFor(host string) string {
	switch host {
	case "", "0.0.0.0":
		return "127.0.0.1"
	case "::":
		return "::1"
	}
	return host
}

// healthURLFromEnv derives the health URL from the service's last ADDR=
// entry, else its last PORT= entry (see Health.URL), and names the entry.
// It returns "" when there is neither or the entry does not parse;
// Validate says why.
func healthURLFromEnv(env []string) (u, from string) {
	addr, hasAddr := lastEnv(env, "ADDR")
	port, hasPort := lastEnv(env, "PORT")
	switch {
	case hasAddr:
		host, p, err := net.SplitHostPort(addr)
		if err != nil || !validPort(p) {
			return "", ""
		}
		return "http://" + net.JoinHostPort(loopbackFor(host), p) + "/api/health", "service.exec.env ADDR=" + addr
	case hasPort:
		if !validPort(port) {
			return "", ""
		}
		return "http://127.0.0.1:" + port + "/api/health", "service.exec.env PORT=" + port
	}
	return "", ""
}

// validPort reports whether p is a fixed TCP port: 0 (any free port)
// cannot be probed.
func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// lastEnv returns the value of the last name= entry of env: the one a
// process sees.
func lastEnv(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if n, v, ok := strings.Cut(env[i], "="); ok && n == name {
			return v, true
		}
	}
	return "", false
}

// Validate reports every problem found, each naming the field and the fix.
// It is a flat list of independent field checks, long on purpose: one
// place to read every rule updater.yaml must follow.
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
	c.validateLayout(bad)
	c.validateBackupPaths(bad)
	if !c.Build.Backend.Enabled() && !c.IsPrebuilt() {
		bad("build.backend.command", "required: the command that builds the backend into $(OUTPUT) (or set artifact: prebuilt to download it)")
	}
	for name, b := range map[string]BuildStep{"build.backend": c.Build.Backend, "build.frontend": c.Build.Frontend} {
		if !b.Enabled() && !(c.IsPrebuilt() && b.Output != "") {
			continue
		}
		out := filepath.Join(c.InstallDir, b.Output)
		if filepath.IsAbs(b.Output) || !within(c.InstallDir, out) || out == c.InstallDir {
			bad(name+".output", "%q must be a relative path inside installDir", b.Output)
		}
		if within(c.DataDir, out) {
			bad(name+".output", "%q is inside dataDir, which updates never modify", b.Output)
		}
		if b.Enabled() && !containsOutput(b.Command) {
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
	switch c.Service.Manager {
	case ManagerExec:
		if c.Service.Systemd.Unit != "" {
			bad("service.systemd.unit", "is only used with service.manager: %s", ManagerSystemd)
		}
	case ManagerSystemd:
		if u := c.Service.Systemd.Unit; !validUnitName(u) {
			bad("service.systemd.unit", "%q is not a unit name such as %s", u, DefaultSystemdUnit)
		}
	default:
		bad("service.manager", "%q is not supported; use %q or %q", c.Service.Manager, ManagerExec, ManagerSystemd)
	}
	c.validateEnv("service.exec.env", c.Service.Exec.Env, bad)
	c.validateListen(bad)
	c.validateEnv("build.env", c.Build.Env, bad)
	for i, kv := range c.Build.Env {
		switch name, _, _ := strings.Cut(kv, "="); name {
		case "VERSION", "COMMIT", "OUTPUT":
			bad(fmt.Sprintf("build.env[%d]", i), "%s is set by the updater for each build; remove the entry", name)
		}
	}
	c.validateRefs("service.exec.command", c.Service.Exec.Command, bad)
	c.validateRefs("service.exec.env", c.Service.Exec.Env, bad)
	c.validateRefs("build.env", c.Build.Env, bad)
	c.validateHealthURL(bad)
	c.API.validateAPI(bad)
	c.DesiredFrom.validate(bad)
	c.validatePrebuilt(bad)
	c.SelfUpdate.validate(bad)
	if c.Health.SuccessThreshold < 1 {
		bad("health.successThreshold", "must be at least 1")
	}
	if c.Health.FailureThreshold < 1 {
		bad("health.failureThreshold", "must be at least 1 (the default is 3)")
	}
	if c.Hooks.MaxRetries < 1 {
		bad("hooks.maxRetries", "must be at least 1 (the default is %d): it is how often a hook's exit 21 may hold one update before the hook counts as failed", DefaultHookMaxRetries)
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
		"timeouts.download": c.Timeouts.Download,
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

// validateLayout refuses folders that would make the updater damage what
// it protects. Paths are compared as written (absolute and cleaned), so a
// symlink can still join two folders; config does not look at the disk.
func (c *Config) validateLayout(bad func(field, format string, a ...any)) {
	if c.InstallDir == "" {
		return
	}
	stateBad := true
	switch {
	case within(c.DataDir, c.StateDir):
		bad("stateDir", "%s is inside dataDir %s: every backup would copy the updater's own state and a restore would roll it back; move stateDir out of dataDir", c.StateDir, c.DataDir)
	case within(c.InstallDir, c.StateDir):
		// The checkout is what a broken install is repaired by: git
		// clean -fdx or a fresh clone. The journal, the failure records,
		// the build logs and caches must survive that, and a release
		// that adds a file there would stall every update.
		bad("stateDir", "%s is inside installDir %s: cleaning or re-cloning the checkout would delete the update journal and records; move stateDir out of installDir (default /var/lib/better-paas-updater)", c.StateDir, c.InstallDir)
	default:
		stateBad = false
	}
	switch {
	case stateBad && within(c.StateDir, c.BackupDir):
		// Moving stateDir moves the default backupDir with it.
	case within(c.DataDir, c.BackupDir):
		bad("backupDir", "%s is inside dataDir %s: every backup would copy the previous backups; move backupDir out of dataDir", c.BackupDir, c.DataDir)
	case within(c.InstallDir, c.BackupDir):
		bad("backupDir", "%s is inside installDir %s: cleaning or re-cloning the checkout, the way a broken install is repaired, would delete the backups that restore it; move backupDir out of installDir (default <stateDir>/backups)", c.BackupDir, c.InstallDir)
	}
	if within(c.BackupDir, c.DataDir) {
		bad("dataDir", "%s is inside backupDir %s: retention, which deletes old backups there, could delete the app's data; move backupDir elsewhere", c.DataDir, c.BackupDir)
	}
	if within(c.StateDir, c.DataDir) {
		bad("dataDir", "%s is inside stateDir %s, where the updater writes its logs, caches and state; move installDir out of stateDir, or stateDir elsewhere", c.DataDir, c.StateDir)
	}
}

// validateBackupPaths checks backup.paths: each a clean relative path
// inside installDir that a restore may replace without harming what the
// updater or git manage there. Whether git tracks it is a property of a
// version, not of this file: the reconciler checks that before each
// update.
func (c *Config) validateBackupPaths(bad func(field, format string, a ...any)) {
	if c.InstallDir == "" {
		return
	}
	outputs := map[string]string{"build.backend.output": c.Build.Backend.Output}
	if c.FrontendDir() != "" {
		outputs["build.frontend.output"] = c.Build.Frontend.Output
	}
	for i, p := range c.Backup.Paths {
		field := fmt.Sprintf("backup.paths[%d]", i)
		clean := path.Clean(p)
		abs := filepath.Join(c.InstallDir, filepath.FromSlash(clean))
		switch {
		case p == "":
			bad(field, "is empty; remove the entry or name a file or folder inside installDir")
			continue
		case path.IsAbs(p) || filepath.IsAbs(p):
			bad(field, "%q is absolute; write it relative to installDir %s (e.g. .env or migrations)", p, c.InstallDir)
			continue
		case clean == ".." || strings.HasPrefix(clean, "../"):
			bad(field, "%q is outside installDir %s; only state inside the install can be backed up with dataDir", p, c.InstallDir)
			continue
		case clean != p:
			bad(field, "%q is not a clean path; write it as %q", p, clean)
			continue
		case p == ".":
			bad(field, "%q is installDir itself, which the checkout manages; list the files and folders the app writes there instead", p)
			continue
		case p == ".git" || strings.HasPrefix(p, ".git/"):
			bad(field, "%q is git's own folder, which the checkout manages; remove the entry", p)
			continue
		case within(c.DataDir, abs):
			bad(field, "%q is inside dataDir %s, which is backed up already; remove the entry", p, c.DataDir)
			continue
		case within(abs, c.DataDir):
			bad(field, "%q holds dataDir %s, which is backed up and restored on its own; list the files and folders beside dataDir instead", p, c.DataDir)
			continue
		}
		for name, out := range outputs {
			if o := filepath.Join(c.InstallDir, out); within(o, abs) || within(abs, o) {
				bad(field, "%q overlaps %s %q, which every update replaces with a new build; remove the entry", p, name, out)
			}
		}
		for j, q := range c.Backup.Paths[:i] {
			if q != path.Clean(q) || q == "" || path.IsAbs(q) {
				continue // refused above already
			}
			switch {
			case q == p:
				bad(field, "%q is listed twice (also backup.paths[%d]); remove one", p, j)
			case within(filepath.FromSlash(q), filepath.FromSlash(p)):
				bad(field, "%q is inside backup.paths[%d] %q, which is backed up whole; remove one", p, j, q)
			case within(filepath.FromSlash(p), filepath.FromSlash(q)):
				bad(field, "%q holds backup.paths[%d] %q, which would be backed up twice; remove one", p, j, q)
			default:
				continue
			}
			break
		}
	}
}

// validateEnv checks that each entry of env is NAME=value.
func (c *Config) validateEnv(field string, env []string, bad func(field, format string, a ...any)) {
	for i, kv := range env {
		if name, _, ok := strings.Cut(kv, "="); !ok || name == "" {
			bad(fmt.Sprintf("%s[%d]", field, i), "%q is not NAME=value", kv)
		}
	}
}

// validateRefs refuses any $(NAME) in argv but the folder names.
func (c *Config) validateRefs(field string, argv []string, bad func(field, format string, a ...any)) {
	vars := c.folderVars()
	for i, arg := range argv {
		for _, name := range command.References([]string{arg}) {
			if _, ok := vars[name]; ok {
				continue
			}
			f := fmt.Sprintf("%s[%d]", field, i)
			switch {
			case name == "VERSION" && strings.HasPrefix(field, "service."):
				bad(f, "$(VERSION) is not available to the service: the supervisor starts whatever version is checked out, with a command fixed when updater.yaml is loaded; build the version into the app instead (-ldflags \"-X main.version=$(VERSION)\" in build.backend.command)")
			case field == "build.env" && (name == "VERSION" || name == "COMMIT" || name == "OUTPUT"):
				bad(f, "$(%s) is not available in build.env; the build's environment has %s already", name, name)
			default:
				bad(f, "$(%s) is not a known name; use $(DATA_DIR), $(INSTALL_DIR) or $(STATE_DIR), or write $$(%s) for the literal text (a shell's command substitution)", name, name)
			}
		}
	}
}

// validateListen checks service.exec.listen: an address, with the exec
// manager, and not fighting service.exec.env over the socket variables.
func (c *Config) validateListen(bad func(field, format string, a ...any)) {
	l := c.Service.Exec.Listen
	if l == "" {
		return
	}
	a, err := service.ParseListen(l)
	if err != nil {
		bad("service.exec.listen", "%v", err)
	}
	if addr, ok := lastEnv(c.Service.Exec.Env, "ADDR"); ok && err == nil && a.Network == "tcp" && addr != a.Address {
		bad("service.exec.env", "ADDR=%s differs from service.exec.listen %s: a release that does not accept the socket would listen elsewhere; make them equal", addr, l)
	}
	if c.Service.Manager != ManagerExec {
		bad("service.exec.listen", "is only used with service.manager: %s; with systemd, a .socket unit passes the socket (see examples/systemd)", ManagerExec)
	}
	for i, kv := range c.Service.Exec.Env {
		switch name, _, _ := strings.Cut(kv, "="); name {
		case "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES":
			bad(fmt.Sprintf("service.exec.env[%d]", i), "%s is set by the supervisor with service.exec.listen; remove the entry", name)
		}
	}
}

// validateHealthURL checks health.url: set (or derived), http(s), and on
// this host unless allowRemote.
func (c *Config) validateHealthURL(bad func(field, format string, a ...any)) {
	h := c.Health
	if h.URL == "" {
		if l := c.Service.Exec.Listen; l != "" {
			if _, err := service.ParseListen(l); err == nil { // else validateListen said why
				bad("health.url", "required with service.exec.listen %s: set it to the app's health endpoint over TCP", l)
			}
			return
		}
		if v, ok := lastEnv(c.Service.Exec.Env, "ADDR"); ok {
			bad("service.exec.env", "ADDR=%s is not host:port with a fixed port, so health.url cannot be derived from it; fix it or set health.url", v)
			return
		}
		if v, ok := lastEnv(c.Service.Exec.Env, "PORT"); ok {
			bad("service.exec.env", "PORT=%s is not a fixed port (1-65535), so health.url cannot be derived from it; fix it or set health.url", v)
			return
		}
		if c.Service.Manager == ManagerSystemd {
			bad("health.url", "required with service.manager: systemd: set it to the health endpoint of the address the unit's backend listens on (e.g. http://127.0.0.1:8080/api/health)")
			return
		}
		bad("health.url", "required: service.exec.env has no ADDR=host:port or PORT= entry to derive it from; set health.url to the app's health endpoint (e.g. http://127.0.0.1:8080/api/health) or add ADDR= to service.exec.env")
		return
	}
	u, err := url.Parse(h.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("health.url", "%q is not an http(s) URL", h.URL)
		return
	}
	if h.AllowRemote || isLoopback(u.Hostname()) {
		return
	}
	from := ""
	if h.derivedFrom != "" {
		from = " (derived from " + h.derivedFrom + ")"
	}
	bad("health.url", "%q%s: host %q is not a loopback address (127.0.0.0/8, ::1, localhost), so the gate could hear another host answer while this host's app is down; probe the app on loopback or set health.allowRemote: true", h.URL, from, u.Hostname())
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// DefaultPath is the PATH a build gets when the daemon has none: systemd's
// default.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// BuildEnv returns the NAME=value entries a build command gets on top of
// environ, the daemon's environment (os.Environ()); command.Run appends
// them to it, a later entry winning. They are defaults for what a build
// needs and a daemon started by a bare systemd unit lacks, then build.env:
//
//	HOME              the daemon's HOME, else <stateDir>/home
//	PATH              the daemon's PATH, else DefaultPath
//	GOCACHE           <stateDir>/cache/go-build
//	GOMODCACHE        <stateDir>/cache/go-mod
//	npm_config_cache  <stateDir>/cache/npm
//
// A default is left out when environ sets the variable to a non-empty
// value (an administrator who set GOCACHE for the daemon meant it) or
// build.env sets it. So the Go and npm caches live in the state folder,
// whatever the daemon's HOME; pnpm, which keeps its store under HOME,
// needs none for a package without dependencies. The folders are created
// by the build, not here: BuildEnv only computes. The caller adds
// VERSION, COMMIT and OUTPUT after these.
func (c *Config) BuildEnv(environ []string) []string {
	var env []string
	def := func(name, value string) {
		if v, ok := lastEnv(environ, name); ok && v != "" {
			return
		}
		if _, ok := lastEnv(c.Build.Env, name); ok {
			return
		}
		env = append(env, name+"="+value)
	}
	cache := filepath.Join(c.StateDir, "cache")
	def("HOME", filepath.Join(c.StateDir, "home"))
	def("PATH", DefaultPath)
	def("GOCACHE", filepath.Join(cache, "go-build"))
	def("GOMODCACHE", filepath.Join(cache, "go-mod"))
	def("npm_config_cache", filepath.Join(cache, "npm"))
	return append(env, c.Build.Env...)
}

// BackendBinary is the absolute path of the running backend binary.
func (c *Config) BackendBinary() string { return filepath.Join(c.InstallDir, c.Build.Backend.Output) }

// FrontendDir is the absolute path of the served frontend build ("" when
// the frontend is not built).
func (c *Config) FrontendDir() string {
	if c.IsPrebuilt() && c.Prebuilt.Frontend == "" || !c.IsPrebuilt() && !c.Build.Frontend.Enabled() {
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

// validUnitName reports whether u is a plausible systemd unit name: the
// characters systemd allows, no leading "-" (it would read as an option),
// and a unit type suffix.
func validUnitName(u string) bool {
	if u == "" || len(u) > 255 || strings.HasPrefix(u, "-") || strings.HasPrefix(u, ".") {
		return false
	}
	for _, r := range u {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(":-_.\\@", r)) {
			return false
		}
	}
	return strings.HasSuffix(u, ".service")
}
