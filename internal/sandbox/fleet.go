package sandbox

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"aead.dev/minisign"
	"sigs.k8s.io/yaml"

	"github.com/better-paas/updater/examples"
	"github.com/better-paas/updater/internal/atomicfile"
	"github.com/better-paas/updater/internal/config"
	apphealth "github.com/better-paas/updater/internal/health"
	"github.com/better-paas/updater/internal/layout"
	"github.com/better-paas/updater/internal/release"
	"github.com/better-paas/updater/internal/service"
	"github.com/better-paas/updater/internal/strictyaml"
	"github.com/better-paas/updater/status"
)

// This file is a fleet on one machine: a fleet repo served over git's
// smart HTTP, and N hosts, each a separate install with its own state,
// desired.yaml, app port, API port and `better-paas-updater run` daemon
// following the fleet repo (desiredFrom.git). The fleet end-to-end test
// and the fleet benchmark share it.

// HealthyAfter returns a release tagged tag whose backend/health.go (and
// its test) are the base app's again: stacked on v1.2.0, whose health
// answers 503, it is the good release that fixes it. The rest of the tree
// is the previous release's.
func HealthyAfter(tag string) Release {
	files := map[string]string{}
	for _, name := range []string{"backend/health.go", "backend/health_test.go"} {
		b, err := fs.ReadFile(examples.App, name)
		if err != nil {
			panic("sandbox: the example app has no " + name + ": " + err.Error())
		}
		files[name] = string(b)
	}
	return Release{Tag: tag, Files: files}
}

// QuickAssets is Assets with the backend archive stored rather than
// compressed (gzip level 0; the frontend archive is Assets'): gzip's best
// level takes some 15 s for the 6 MB binary in a test process built with
// -race, and a fleet test packs four releases. The archive holds the same
// entry ("server", mode 0755, at its root); only its size differs.
func (b BuiltRelease) QuickAssets(key minisign.PrivateKey) (map[string][]byte, error) {
	names := PrebuiltNames(b.Tag)
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.NoCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(gz)
	h := &tar.Header{Name: "server", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(b.Server)),
		ModTime: PrebuiltSignTime, Uname: "root", Gname: "root"}
	if err := tw.WriteHeader(h); err != nil {
		return nil, fmt.Errorf("cannot pack %s: %w", names.Backend, err)
	}
	if _, err := tw.Write(b.Server); err != nil {
		return nil, fmt.Errorf("cannot pack %s: %w", names.Backend, err)
	}
	if err := errors.Join(tw.Close(), gz.Close()); err != nil {
		return nil, fmt.Errorf("cannot pack %s: %w", names.Backend, err)
	}
	files := map[string][]byte{names.Backend: buf.Bytes()}
	var fe bytes.Buffer
	if err := release.WriteArchive(&fe, "", b.Frontend, PrebuiltSignTime); err != nil {
		return nil, err
	}
	files[names.Frontend] = fe.Bytes()
	return SignAssets(files, b.Tag, key), nil
}

// FleetRepo is a fleet repo made with the git CLI (pinned identity and
// dates, no user configuration): a bare repository the hosts fetch, and a
// private work tree that commits and pushes to it. Its branch is main.
// Commits are serialised; it is safe for concurrent use.
type FleetRepo struct {
	// Bare is the bare repository's absolute path.
	Bare string

	mu   sync.Mutex
	work string
	n    int
}

// NewFleetRepo creates an empty bare repository at bare (which must not
// exist or be empty) and a work tree beside it (bare + ".work"). The
// branch main appears with the first Commit; until then a host fetching
// the repo finds no branch.
func NewFleetRepo(ctx context.Context, bare string) (*FleetRepo, error) {
	abs, err := filepath.Abs(bare)
	if err != nil {
		return nil, fmt.Errorf("cannot resolve fleet repo path %s: %w", bare, err)
	}
	if entries, err := os.ReadDir(abs); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("cannot create fleet repo %s: folder is not empty: %w", abs, fs.ErrExist)
	}
	r := &FleetRepo{Bare: abs, work: abs + ".work"}
	if _, err := git(ctx, "", nil, "init", "--quiet", "--bare", abs); err != nil {
		return nil, err
	}
	if _, err := git(ctx, "", nil, "init", "--quiet", r.work); err != nil {
		return nil, err
	}
	if _, err := git(ctx, r.work, nil, "remote", "add", "origin", abs); err != nil {
		return nil, err
	}
	return r, nil
}

// Commit sets files in the work tree (slash-separated path → content;
// "" removes the file), commits them with message (an empty commit when
// nothing changed) and pushes main. It returns the commit's id.
func (r *FleetRepo) Commit(ctx context.Context, message string, files map[string]string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range slices.Sorted(maps.Keys(files)) {
		if !fs.ValidPath(p) || p == "." || isGitPath(p) {
			return "", fmt.Errorf("cannot commit %q to the fleet repo: the path must be slash-separated, relative, inside the repository and outside .git", p)
		}
		full := filepath.Join(r.work, filepath.FromSlash(p))
		if files[p] == "" {
			if err := os.Remove(full); err != nil {
				return "", fmt.Errorf("cannot remove %s from the fleet repo: %w", p, err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return "", err
		}
		if err := atomicfile.WriteFile(full, []byte(files[p]), 0o644); err != nil {
			return "", err
		}
	}
	r.n++
	env := dateEnv(r.n)
	if _, err := git(ctx, r.work, env, "add", "--all"); err != nil {
		return "", err
	}
	if _, err := git(ctx, r.work, env, "commit", "--quiet", "--allow-empty", "--message", message); err != nil {
		return "", err
	}
	if _, err := git(ctx, r.work, nil, "push", "--quiet", "origin", "HEAD:refs/heads/main"); err != nil {
		return "", err
	}
	return git(ctx, r.work, nil, "rev-parse", "HEAD")
}

// Blob returns the git object id of path in commit rev: what a host
// records as status.fleet.document.blob.
func (r *FleetRepo) Blob(ctx context.Context, rev, path string) (string, error) {
	return git(ctx, r.Bare, nil, "rev-parse", rev+":"+path)
}

// GitTraffic is what a GitServer served to one client.
type GitTraffic struct {
	// Requests counts HTTP requests; BytesIn the request bodies read
	// (the client's wants and haves), BytesOut the answer bodies written
	// (ref advertisements and packs).
	Requests, BytesIn, BytesOut int64
}

// GitServer serves the bare repositories under a folder over git's smart
// HTTP protocol, through net/http/cgi and `git http-backend`, on
// 127.0.0.1. Each client gets its own URL prefix (URL), so the server
// counts what each fetched (Traffic). Stop makes it unreachable
// (connections are refused) and Start serves again on the same address.
type GitServer struct {
	root, backend, addr string

	mu      sync.Mutex
	srv     *http.Server
	traffic map[string]*gitCounters
}

type gitCounters struct{ requests, in, out atomic.Int64 }

// clientName is a URL prefix: one path segment.
var clientName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// NewGitServer serves the repositories under root (every one, without a
// git-daemon-export-ok file) on a free port of 127.0.0.1. It needs git's
// http-backend (`git --exec-path`, /usr/lib/git-core on Debian). Close
// stops it for good.
func NewGitServer(root string) (*GitServer, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return nil, fmt.Errorf("cannot find git's exec path (git --exec-path): %w", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		return nil, fmt.Errorf("cannot serve git over HTTP: %w; install git (its git-http-backend)", err)
	}
	s := &GitServer{root: root, backend: backend, addr: "127.0.0.1:0", traffic: map[string]*gitCounters{}}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// URL is the address client fetches repo (a folder under the server's
// root, e.g. "fleet.git") at: http://127.0.0.1:<port>/<client>/<repo>.
// client is one path segment of letters, digits, '.', '_' and '-'.
func (s *GitServer) URL(client, repo string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "http://" + s.addr + "/" + client + "/" + repo
}

// Traffic returns what the server has served to client so far.
func (s *GitServer) Traffic(client string) GitTraffic {
	c := s.counters(client)
	return GitTraffic{Requests: c.requests.Load(), BytesIn: c.in.Load(), BytesOut: c.out.Load()}
}

func (s *GitServer) counters(client string) *gitCounters {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.traffic[client]
	if c == nil {
		c = &gitCounters{}
		s.traffic[client] = c
	}
	return c
}

// Start serves again after Stop, on the address the server had; it does
// nothing while the server runs.
func (s *GitServer) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil
	}
	l, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("cannot serve git over HTTP on %s: %w", s.addr, err)
	}
	s.addr = l.Addr().String()
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 30 * time.Second}
	go func(srv *http.Server) { _ = srv.Serve(l) }(s.srv)
	return nil
}

// Stop closes the listener and every connection: a fetch now fails with
// "connection refused", as from a git host that is down. Start undoes it.
func (s *GitServer) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return nil
	}
	err := s.srv.Close()
	s.srv = nil
	return err
}

// Close stops the server for good.
func (s *GitServer) Close() error { return s.Stop() }

func (s *GitServer) serve(w http.ResponseWriter, r *http.Request) {
	client, rest, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if !ok || !clientName.MatchString(client) || rest == "" {
		http.Error(w, "no such repository; fetch http://<server>/<client>/<repo>", http.StatusNotFound)
		return
	}
	c := s.counters(client)
	c.requests.Add(1)
	r.Body = &countingReader{r: r.Body, n: &c.in}
	h := &cgi.Handler{
		Path: s.backend,
		Root: "/" + client,
		Dir:  s.root,
		Env: []string{
			"GIT_PROJECT_ROOT=" + s.root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_GLOBAL=" + os.DevNull,
			"GIT_CONFIG_NOSYSTEM=1",
			"PATH=" + os.Getenv("PATH"),
		},
	}
	h.ServeHTTP(&countingWriter{ResponseWriter: w, n: &c.out}, r)
}

type countingReader struct {
	r io.ReadCloser
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// Flush lets the CGI handler stream a pack as git writes it.
func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// FleetOptions describe a fleet of hosts on this machine.
type FleetOptions struct {
	// Dir holds every host, each in Dir/<name>; it must exist.
	Dir string
	// Hosts is how many hosts; they are named host-01, host-02, ...
	// (host-001, ... from 100 hosts on).
	Hosts int
	// HostID returns desiredFrom.git.hostID of the host named name (its
	// place in every rollout); nil: the name.
	HostID func(name string) string
	// Origin is the app's origin (NewOrigin); each install is a Clone of
	// it at Tag. No desired.yaml is written: the fleet repo writes it.
	Origin, Tag string
	// Bin is the updater binary (UpdaterBinary) and Env the daemons'
	// environment (nil: the caller's). A prebuilt fleet takes
	// ToolchainFreeEnv.
	Bin string
	Env []string
	// Config adapts every host's updater.yaml (ConfigWith); APIListen is
	// set per host and ignored here.
	Config Options
	// Git serves the fleet repo Repo (a folder under its root); each host
	// fetches it at Git.URL(name, Repo).
	Git  *GitServer
	Repo string
	// Interval is desiredFrom.git.interval (at least 10s); 0: 10m, so the
	// webhook drives the fleet.
	Interval time.Duration
	// Resync is resyncInterval; 0 keeps the default (5m).
	Resync time.Duration
	// Parallel bounds how many hosts are prepared at once; 0: 4.
	Parallel int
}

// Fleet is a set of running hosts following one fleet repo.
type Fleet struct {
	Hosts []*FleetHost
	git   *GitServer
}

// FleetHost is one host of a Fleet: its folders, configuration, API and
// daemon. Its app runs in a session of its own (service.manager: exec).
type FleetHost struct {
	// Name is desiredFrom.git.hostname (host-NN); HostID its hostID.
	Name, HostID string
	// Root holds updater.yaml, desired.yaml, state/ and daemon.log;
	// Install is the app's checkout.
	Root, Install string
	// ConfigPath is updater.yaml; Config is it loaded.
	ConfigPath string
	Config     *config.Config
	Layout     layout.Layout
	// AppPort is the app's loopback port; APIURL the daemon's API
	// (http://127.0.0.1:<port>), Token its bearer token.
	AppPort int
	APIURL  string
	Token   string
	// Daemon is the running `better-paas-updater run`.
	Daemon *Daemon

	svc *service.Exec
}

// StartFleet prepares o.Hosts hosts (install, updater.yaml, API token),
// starts a daemon for each and waits until every API answers. On error,
// what was started is stopped again. Stop the fleet with Stop.
func StartFleet(ctx context.Context, o FleetOptions) (*Fleet, error) {
	if o.Hosts < 1 || o.Dir == "" || o.Origin == "" || o.Tag == "" || o.Bin == "" || o.Git == nil || o.Repo == "" {
		return nil, errors.New("cannot start a fleet: Hosts, Dir, Origin, Tag, Bin, Git and Repo are required")
	}
	if o.Interval == 0 {
		o.Interval = 10 * time.Minute
	}
	if o.Parallel < 1 {
		o.Parallel = 4
	}
	width := max(2, len(strconv.Itoa(o.Hosts)))
	ports, err := FreePorts(2 * o.Hosts)
	if err != nil {
		return nil, err
	}
	f := &Fleet{git: o.Git, Hosts: make([]*FleetHost, o.Hosts)}
	for i := range f.Hosts {
		name := fmt.Sprintf("host-%0*d", width, i+1)
		id := name
		if o.HostID != nil {
			id = o.HostID(name)
		}
		f.Hosts[i] = &FleetHost{Name: name, HostID: id, Root: filepath.Join(o.Dir, name), AppPort: ports[2*i],
			APIURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1])}
	}
	if err := forEach(f.Hosts, o.Parallel, func(h *FleetHost) error { return h.prepare(ctx, o) }); err != nil {
		return nil, err
	}
	for _, h := range f.Hosts {
		d, err := StartDaemon(o.Bin, filepath.Join(h.Root, "daemon.log"), o.Env, "run", "--config", h.ConfigPath)
		if err != nil {
			return nil, errors.Join(err, f.Stop())
		}
		h.Daemon = d
	}
	deadline := 30*time.Second + time.Duration(o.Hosts)*500*time.Millisecond
	if err := f.waitAPIs(ctx, deadline); err != nil {
		return nil, errors.Join(err, f.Stop())
	}
	return f, nil
}

// prepare makes the host's install, updater.yaml and API token.
func (h *FleetHost) prepare(ctx context.Context, o FleetOptions) error {
	h.Install = filepath.Join(h.Root, "install")
	h.ConfigPath = filepath.Join(h.Root, "updater.yaml")
	if err := os.MkdirAll(h.Root, 0o755); err != nil {
		return err
	}
	if err := Clone(ctx, o.Origin, h.Install, o.Tag); err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	opts := o.Config
	opts.APIListen = strings.TrimPrefix(h.APIURL, "http://")
	raw, err := ConfigWith(h.Root, h.Install, h.AppPort, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	var c config.Config
	if err := strictyaml.Unmarshal(raw, &c, 4<<20); err != nil {
		return fmt.Errorf("%s: cannot read its updater.yaml: %w", h.Name, err)
	}
	c.DesiredFrom.Git = &config.GitSource{
		URL: o.Git.URL(h.Name, o.Repo), Hostname: h.Name, HostID: h.HostID,
		Interval: config.Duration{Duration: o.Interval},
	}
	if o.Resync > 0 {
		c.ResyncInterval.Duration = o.Resync
	}
	out, err := yaml.Marshal(&c)
	if err != nil {
		return fmt.Errorf("%s: cannot encode its updater.yaml: %w", h.Name, err)
	}
	if h.Config, err = config.Parse(h.ConfigPath, out); err != nil {
		return fmt.Errorf("%s: its updater.yaml does not load: %w", h.Name, err)
	}
	if err := atomicfile.WriteFile(h.ConfigPath, out, 0o644); err != nil {
		return err
	}
	h.Layout = layout.New(h.Config)
	if h.Token, err = CreateToken(o.Bin, h.ConfigPath, false); err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	ec := h.Config.Service.Exec
	h.svc, err = service.NewExec(service.ExecConfig{Command: ec.Command, Dir: h.Config.InstallDir, Env: ec.Env,
		PIDFile: h.Layout.PIDFile, LogFile: h.Layout.ServiceLog, StopTimeout: h.Config.Service.StopTimeout.Duration})
	if err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	return nil
}

// waitAPIs waits until every daemon's API answers GET /api/v1/status.
func (f *Fleet) waitAPIs(ctx context.Context, timeout time.Duration) error {
	return f.poll(ctx, timeout, "the API answers", func(h *FleetHost) (bool, string) {
		_, err := h.APIStatus(ctx)
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

// Stop sends every daemon SIGTERM (waiting up to 30 s each), then stops
// every app, all hosts at once. It returns what went wrong, naming hosts.
func (f *Fleet) Stop() error {
	var mu sync.Mutex
	var errs []error
	_ = forEach(f.Hosts, len(f.Hosts), func(h *FleetHost) error {
		var err error
		if h.Daemon != nil {
			err = h.Daemon.Stop(30 * time.Second)
		}
		if h.svc != nil {
			err = errors.Join(err, h.svc.Stop(context.Background()))
		}
		if err != nil {
			mu.Lock()
			errs = append(errs, fmt.Errorf("%s: %w", h.Name, err))
			mu.Unlock()
		}
		return nil
	})
	return errors.Join(errs...)
}

// Host returns the host named name, nil when there is none.
func (f *Fleet) Host(name string) *FleetHost {
	for _, h := range f.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// WebhookResult is one host's answer to the fleet webhook.
type WebhookResult struct {
	Host *FleetHost
	// Code is the HTTP status (202 taken, 422 refused, 502 unreachable,
	// see fleet.WebhookHandler); Fleet the sync's record, Error its error.
	Code  int
	Fleet status.FleetStatus
	Error string
	// Err is set when no answer came.
	Err error
}

// apiClient talks to the daemons: no proxy, no connection reuse across
// a hundred hosts, and room for a sync (desiredFrom.git.timeout).
var apiClient = func() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.MaxIdleConnsPerHost = 1
	return &http.Client{Transport: tr, Timeout: 3 * time.Minute}
}()

// Webhook POSTs the fleet webhook (/api/v1/fleet/sync) to every host at
// once, as a git host's push webhook would, and returns each answer in
// the order of Hosts.
func (f *Fleet) Webhook(ctx context.Context) []WebhookResult {
	out := make([]WebhookResult, len(f.Hosts))
	var wg sync.WaitGroup
	for i, h := range f.Hosts {
		wg.Go(func() { out[i] = h.Webhook(ctx) })
	}
	wg.Wait()
	return out
}

// Webhook POSTs the fleet webhook to h and returns its answer.
func (h *FleetHost) Webhook(ctx context.Context) WebhookResult {
	res := WebhookResult{Host: h}
	resp, err := h.api(ctx, http.MethodPost, "/api/v1/fleet/sync")
	if err != nil {
		res.Err = err
		return res
	}
	defer resp.Body.Close()
	res.Code = resp.StatusCode
	var ans struct {
		Fleet status.FleetStatus `json:"fleet"`
		Error string             `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		res.Err = fmt.Errorf("%s: cannot decode the webhook's answer (HTTP %d): %w", h.Name, resp.StatusCode, err)
		return res
	}
	res.Fleet, res.Error = ans.Fleet, ans.Error
	return res
}

// APIStatus is GET /api/v1/status: status.yaml as the API shows it.
func (h *FleetHost) APIStatus(ctx context.Context) (*status.VersionStatus, error) {
	resp, err := h.api(ctx, http.MethodGet, "/api/v1/status")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%s: GET /api/v1/status: HTTP %d: %s", h.Name, resp.StatusCode, b)
	}
	var ans struct {
		Status      *status.VersionStatus `json:"status"`
		StatusError string                `json:"statusError"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		return nil, fmt.Errorf("%s: cannot decode GET /api/v1/status: %w", h.Name, err)
	}
	if ans.Status == nil {
		return nil, fmt.Errorf("%s: GET /api/v1/status has no status: %s", h.Name, ans.StatusError)
	}
	return ans.Status, nil
}

func (h *FleetHost) api(ctx context.Context, method, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, h.APIURL+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+h.Token)
	resp, err := apiClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", h.Name, err)
	}
	return resp, nil
}

// Status reads the host's status.yaml.
func (h *FleetHost) Status() (*status.VersionStatus, error) {
	return status.Load(h.Layout.Status)
}

// Desired returns the bytes of the host's desired.yaml; nil when there
// is none yet.
func (h *FleetHost) Desired() ([]byte, error) {
	b, err := os.ReadFile(h.Config.DesiredFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// AppPID returns the PID of the host's running app (its pidfile, checked
// against /proc); 0 when none runs.
func (h *FleetHost) AppPID(ctx context.Context) (int, error) {
	st, err := h.svc.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", h.Name, err)
	}
	return st.PID, nil
}

// Serving probes the app's health URL once: the version it reports and
// its HTTP status (an error for a non-2xx answer, with the observation
// still filled).
func (h *FleetHost) Serving(ctx context.Context) (apphealth.Observation, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return apphealth.Probe(ctx, nil, h.Config.Health.URL)
}

// Log returns the last n lines of the daemon's log.
func (h *FleetHost) Log(n int) string {
	b, err := os.ReadFile(filepath.Join(h.Root, "daemon.log"))
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Usage returns the daemon's CPU time and peak RSS so far (Linux only).
func (h *FleetHost) Usage() (ProcUsage, error) {
	return ProcessUsage(h.Daemon.PID())
}

// Summary is one line on what status.yaml says of the host, for failure
// messages: versions, Ready, the operation in flight, the fleet sync, the
// policy and the failed versions.
func Summary(st *status.VersionStatus) string {
	if st == nil {
		return "no status"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "current %q, desired %q (target %q)", st.CurrentVersion, st.DesiredVersion, st.TargetVersion)
	if c := st.Get(status.TypeReady); c != nil {
		fmt.Fprintf(&b, ", Ready %s %s: %s", c.Status, c.Reason, c.Message)
	}
	if op := st.Operation; op != nil {
		fmt.Fprintf(&b, ", operation %+v", *op)
	}
	if fl := st.Fleet; fl != nil {
		fmt.Fprintf(&b, ", fleet %s %s (cohort %d, commit %.12s): %s", fl.Result, fl.Reason, fl.Cohort, fl.Commit, fl.Message)
		if fl.Paused != nil {
			fmt.Fprintf(&b, ", paused on %s", fl.Paused.Version)
		}
	}
	if p := st.Policy; p != nil {
		fmt.Fprintf(&b, ", policy %s %s", p.Reason, p.Version)
	}
	for _, fv := range st.FailedVersions {
		fmt.Fprintf(&b, ", failed %s (%s at %s)", fv.Version, fv.Reason, fv.Step)
	}
	return b.String()
}

// Wait polls every host's status.yaml (every 100 ms) until cond holds
// for each host of hosts (nil: the whole fleet), or timeout passes, ctx
// ends, or a daemon exits. The error names each host that is not there,
// with what its status says. An unreadable or missing status.yaml counts
// as not there yet.
func (f *Fleet) Wait(ctx context.Context, timeout time.Duration, what string, hosts []*FleetHost, cond func(*FleetHost, *status.VersionStatus) bool) error {
	if hosts == nil {
		hosts = f.Hosts
	}
	return pollHosts(ctx, hosts, timeout, what, func(h *FleetHost) (bool, string) {
		st, err := h.Status()
		if err != nil {
			return false, err.Error()
		}
		if cond(h, st) {
			return true, ""
		}
		return false, Summary(st)
	})
}

func (f *Fleet) poll(ctx context.Context, timeout time.Duration, what string, check func(*FleetHost) (bool, string)) error {
	return pollHosts(ctx, f.Hosts, timeout, what, check)
}

func pollHosts(ctx context.Context, hosts []*FleetHost, timeout time.Duration, what string, check func(*FleetHost) (bool, string)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	pending := slices.Clone(hosts)
	why := map[*FleetHost]string{}
	for {
		var still []*FleetHost
		for _, h := range pending {
			if h.Daemon != nil {
				if err := h.Daemon.Alive(); err != nil {
					return fmt.Errorf("%s: waiting until %s: %w\n%s", h.Name, what, err, h.Log(20))
				}
			}
			if ok, reason := check(h); !ok {
				why[h] = reason
				still = append(still, h)
			}
		}
		if pending = still; len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			var b strings.Builder
			fmt.Fprintf(&b, "%d of %d hosts not there after %s waiting until %s:", len(pending), len(hosts), timeout, what)
			for _, h := range pending {
				fmt.Fprintf(&b, "\n  %s: %s", h.Name, why[h])
			}
			return errors.New(b.String())
		case <-tick.C:
		}
	}
}

// ReadyOn is a Wait condition: the host runs version, Ready, with no
// update in flight.
func ReadyOn(version string) func(*FleetHost, *status.VersionStatus) bool {
	return func(_ *FleetHost, st *status.VersionStatus) bool {
		return st.CurrentVersion == version && st.Operation == nil && st.IsTrue(status.TypeReady)
	}
}

// ProcUsage is what a process has used so far.
type ProcUsage struct {
	// CPU is user plus system time.
	CPU time.Duration
	// PeakRSS is the peak resident set size (VmHWM), in bytes.
	PeakRSS int64
}

// ErrUsageUnsupported: ProcessUsage reads /proc, which only Linux has.
var ErrUsageUnsupported = errors.New("process usage is read from /proc, which only Linux has")

// userHZ is the unit of utime and stime in /proc/<pid>/stat: USER_HZ,
// 100 on every Linux architecture the updater ships for.
const userHZ = 100

// ProcessUsage reads pid's CPU time (utime+stime of /proc/<pid>/stat)
// and peak RSS (VmHWM of /proc/<pid>/status). Linux only: elsewhere it
// returns ErrUsageUnsupported.
func ProcessUsage(pid int) (ProcUsage, error) {
	if runtime.GOOS != "linux" {
		return ProcUsage{}, ErrUsageUnsupported
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcUsage{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(stat), ')')
	var fields []string
	if i >= 0 {
		fields = strings.Fields(string(stat[i+1:]))
	}
	if len(fields) < 13 {
		return ProcUsage{}, fmt.Errorf("cannot parse /proc/%d/stat: %q", pid, stat)
	}
	// fields[0] is field 3 (state): utime is field 14, stime field 15.
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return ProcUsage{}, fmt.Errorf("cannot parse /proc/%d/stat: %w", pid, err)
	}
	u := ProcUsage{CPU: time.Duration(utime+stime) * time.Second / userHZ}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcUsage{}, err
	}
	for line := range strings.SplitSeq(string(st), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return ProcUsage{}, fmt.Errorf("cannot parse VmHWM in /proc/%d/status: %q", pid, line)
			}
			u.PeakRSS = kb << 10
		}
	}
	return u, nil
}

// ToolchainFreeEnv returns the environment of a daemon on a host that
// installs prebuilt releases: the caller's, with PATH a new folder under
// dir holding only git (no go, node, npm or pnpm) and UPDATE_REPO set to
// repo ("owner/name", the app's GitHub repository).
func ToolchainFreeEnv(dir, repo string) ([]string, error) {
	bin := filepath.Join(dir, "toolchain-free-bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return nil, err
	}
	g, err := exec.LookPath("git")
	if err != nil {
		return nil, err
	}
	if err := os.Symlink(g, filepath.Join(bin, "git")); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "UPDATE_REPO=") {
			env = append(env, kv)
		}
	}
	return append(env, "PATH="+bin, "UPDATE_REPO="+repo), nil
}

// FreePorts returns n distinct free ports of 127.0.0.1, holding each
// until all are chosen so none is handed out twice.
func FreePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("cannot find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// forEach runs fn for every host, at most parallel at once, and returns
// the errors joined.
func forEach(hosts []*FleetHost, parallel int, fn func(*FleetHost) error) error {
	sem := make(chan struct{}, max(parallel, 1))
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := fn(h); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
