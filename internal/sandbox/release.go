package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/better-paas/updater/examples"
)

// AppModulePath is the module path of the example app's repository; the
// first default release writes its go.mod.
const AppModulePath = "example.com/better-paas-app"

const appGoMod = "module " + AppModulePath + "\n\ngo 1.24\n"

// ErrInvalidRelease means a Release cannot be applied: no tag, a path that
// leaves the repository or points into .git, or a Remove path that is not in
// the previous release's tree. The error names the tag and the path.
var ErrInvalidRelease = errors.New("invalid release")

// Release is one tagged commit of a fixture repository. It is applied on
// top of the previous release's tree in this order: Remove, Overlay, Files
// (later steps win), then committed and tagged with an annotated tag.
//
// Paths are slash-separated and relative to the repository root. Files that
// the tree's .gitignore matches are not committed, as in a real repository.
type Release struct {
	// Tag names the release, e.g. "v1.3.0". It must not exist yet.
	Tag string
	// Files maps paths to contents, written with mode 0644.
	Files map[string]string
	// Remove lists files or folders to delete; each must exist.
	Remove []string
	// Overlay is copied over the tree. Files with an executable bit keep it
	// (os.DirFS); embedded files are written with mode 0644. May be nil.
	Overlay fs.FS
}

// DefaultReleases returns the example app's history from package examples:
// v1.0.0 (examples.App plus a go.mod for AppModulePath), v1.1.0 (good) and
// v1.2.0 (builds, but /api/health answers 503). Each call returns new values.
func DefaultReleases() []Release {
	var rels []Release
	for i, r := range examples.Releases() {
		rel := Release{Tag: r.Tag, Overlay: r.Overlay}
		if i == 0 {
			rel.Files = map[string]string{"go.mod": appGoMod}
		}
		rels = append(rels, rel)
	}
	return rels
}

// BrokenBackend returns a release tagged tag whose backend does not compile:
// `go build ./backend` fails on an undefined name. The frontend still builds.
func BrokenBackend(tag string) Release {
	return Release{Tag: tag, Files: map[string]string{
		"backend/broken.go": "package main\n\n// A half-finished refactoring: the helper was renamed, this caller not.\nvar _ = loadSettings()\n",
	}}
}

// BrokenFrontend returns a release tagged tag whose frontend build exits
// non-zero: src/app.js has a syntax error. The backend still builds.
func BrokenFrontend(tag string) Release {
	return Release{Tag: tag, Files: map[string]string{
		"frontend/src/app.js": "// A merge conflict resolved badly.\nconst pageVersion = __VERSION__;\nrefreshHealth(;\n",
	}}
}

// The releases below each misbehave in one way, through a small, realistic
// change to the example app's code. Each rewrites only the files its doc
// comment names, and writes them whole: the base app's version (examples.App,
// the v1.0.0 tree) plus its change. Every other file is the previous
// release's, so stacking one on a release that is itself broken (say
// BrokenBackend, or v1.2.0, whose health answers 503 without PUBLIC_URL)
// keeps that breakage in the files this release does not rewrite; the
// caller builds the history it needs. Releases that rewrite the same file do
// not accumulate: HangOnStart after CrashOnStart no longer crashes.
//
// The changes live in the app, not in a flag the updater sets, so the
// updater meets them the way it would meet a bad release: through a build,
// a start and /api/health.

// CrashOnStart returns a release tagged tag whose backend builds but exits
// with status 1 right after it starts, before it touches the data folder or
// listens: a configuration check with an inverted condition rejects every
// configuration and logs
// "better-paas: invalid configuration: DATA_DIR is empty: set it to the data folder".
// `server --version` still prints the version. It rewrites backend/main.go.
func CrashOnStart(tag string) Release {
	return Release{Tag: tag, Files: map[string]string{
		"backend/main.go": patched("backend/main.go",
			edit{
				old: "func getenv(key, fallback string) string {",
				new: `// validate rejects a configuration the server cannot run with.
//
// BUG(CrashOnStart): the condition is inverted, so every configuration is
// rejected and the server exits before it listens.
func (c config) validate() error {
	if c.dataDir != "" {
		return errors.New("DATA_DIR is empty: set it to the data folder")
	}
	return nil
}

func getenv(key, fallback string) string {`,
			},
			edit{
				old: "func run(ctx context.Context, cfg config) error {\n",
				new: `func run(ctx context.Context, cfg config) error {
	if err := cfg.validate(); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
`,
			}),
	}}
}

// HangOnStart returns a release tagged tag whose backend builds and starts,
// migrates the data folder as usual, logs
// "better-paas <version> waiting for the notes index to warm up" and then
// waits forever for a warm-up nothing performs, so it never listens. SIGTERM
// (or an interrupt) still ends the wait: the server logs
// "better-paas <version> stopped before listening" and exits with status 0,
// so stopping the service works. It rewrites backend/main.go.
func HangOnStart(tag string) Release {
	return Release{Tag: tag, Files: map[string]string{
		"backend/main.go": patched("backend/main.go", beforeListen(`	// Serve only once the notes index is warm, so the first requests are fast.
	//
	// BUG(HangOnStart): the warm-up that should close indexWarm was never
	// started, so the server waits here until it is told to stop.
	indexWarm := make(chan struct{})
	log.Printf("better-paas %s waiting for the notes index to warm up", version)
	select {
	case <-indexWarm:
	case <-ctx.Done():
		log.Printf("better-paas %s stopped before listening", version)
		return nil
	}
`)),
	}}
}

// SlowStart returns a release tagged tag whose backend migrates the data
// folder, logs "better-paas <version> warming up for <d> before listening",
// and opens its listener only d after that (d <= 0: at once); from then on
// it serves as the previous release did, so its health is the previous
// release's. SIGTERM during the warm-up ends it at once with status 0. It
// rewrites backend/main.go.
func SlowStart(tag string, d time.Duration) Release {
	return Release{Tag: tag, Files: map[string]string{
		"backend/main.go": patched("backend/main.go", beforeListen(fmt.Sprintf(`	// Warm the notes index before taking requests; it takes a while.
	const warmUp = time.Duration(%d) // %s
	log.Printf("better-paas %%s warming up for %%s before listening", version, warmUp)
	select {
	case <-time.After(warmUp):
	case <-ctx.Done():
		log.Printf("better-paas %%s stopped before listening", version)
		return nil
	}
`, int64(d), d))),
	}}
}

// ReportsVersion returns a release tagged tag whose backend builds, starts
// and answers GET /api/health with 200 {"status": "ok"}, but with "version"
// set to the constant version (which may be empty) instead of the version
// baked in with -ldflags: a release that forgot to bake its version.
// `server --version` still prints the baked-in version. It rewrites
// backend/health.go and backend/health_test.go with the base app's healthy
// versions plus the constant; this drops v1.2.0's PUBLIC_URL check.
func ReportsVersion(tag, version string) Release {
	return Release{Tag: tag, Files: map[string]string{
		"backend/health.go": patched("backend/health.go",
			edit{
				old: "// healthResponse is the body",
				new: fmt.Sprintf(`// reportedVersion is the version /api/health reports.
//
// BUG(ReportsVersion): a constant left over from before the version was
// baked in with -ldflags, so every build reports it, whatever it was built as.
const reportedVersion = %s

// healthResponse is the body`, strconv.Quote(version)),
			},
			edit{
				old: `healthResponse{Status: "ok", Version: version}`,
				new: `healthResponse{Status: "ok", Version: reportedVersion}`,
			}),
		"backend/health_test.go": patched("backend/health_test.go"),
	}}
}

// Flapping returns a release tagged tag whose backend builds and starts, and
// whose GET /api/health alternates per request, counted from the first
// request after start: 200 {"status": "ok"}, then 503 {"status":
// "unavailable", "reason": "database connection lost"}, then 200, 503, and
// so on; both report the baked-in version. Every client's request counts,
// including the web UI's, which polls every 5 seconds. It rewrites
// backend/health.go and backend/health_test.go with the base app's healthy
// versions plus the alternation; this drops v1.2.0's PUBLIC_URL check.
func Flapping(tag string) Release {
	return Release{Tag: tag, Files: map[string]string{
		"backend/health.go": patched("backend/health.go",
			edit{
				old: `import "net/http"`,
				new: `import (
	"net/http"
	"sync/atomic"
)

// healthChecks counts GET /api/health requests.
var healthChecks atomic.Int64`,
			},
			edit{
				old: "func (s *server) handleHealth(w http.ResponseWriter, r *http.Request) {\n",
				new: `func (s *server) handleHealth(w http.ResponseWriter, r *http.Request) {
	// BUG(Flapping): the check borrows one of two pooled database
	// connections in turn, and one of them is dead.
	if healthChecks.Add(1)%2 == 0 {
		writeJSON(w, http.StatusServiceUnavailable, healthResponse{
			Status: "unavailable", Version: version, Reason: "database connection lost",
		})
		return
	}
`,
			}),
		"backend/health_test.go": patched("backend/health_test.go"),
	}}
}

// HangingFrontendBuild returns a release tagged tag whose frontend build
// (`node frontend/build.mjs <out>`, directly or through
// `npm --prefix frontend run build -- <out>`) writes the complete output
// folder as usual, then never exits: watch mode was left on. It starts a
// child process in the build's process group (`sleep 1000`, standing in for
// a live-reload server, sharing the build's standard output), logs
// "build.mjs: watching src/ for changes; live-reload server is pid <pid>"
// and waits forever. Only killing the whole process group ends both. It
// rewrites frontend/build.mjs.
func HangingFrontendBuild(tag string) Release {
	return Release{Tag: tag, Files: map[string]string{
		"frontend/build.mjs": patched("frontend/build.mjs",
			edit{
				old: "import { createHash } from 'node:crypto';",
				new: "import { spawn } from 'node:child_process';\nimport { createHash } from 'node:crypto';",
			},
			edit{
				old: "const outArg = process.argv[2];",
				new: `// watch rebuilds on change while a live-reload server runs beside it.
//
// BUG(HangingFrontendBuild): watch mode was left on in the release, so the
// build never exits.
async function watch() {
  const server = spawn('sleep', ['1000'], { stdio: 'inherit' });
  console.log(` + "`build.mjs: watching src/ for changes; live-reload server is pid ${server.pid}`" + `);
  await new Promise(() => setInterval(() => {}, 60_000));
}

const outArg = process.argv[2];`,
			},
			edit{
				old: "build(outArg, process.env).catch(",
				new: "build(outArg, process.env).then(watch).catch(",
			}),
	}}
}

// NoSocketActivation returns a release tagged tag whose backend ignores a
// socket passed with LISTEN_FDS (as apps written before socket activation
// do) and always listens on ADDR itself: "the plain way". Under a
// supervisor that holds the socket (service.exec.listen), it cannot bind
// and exits with "address already in use", unless it is started the plain
// way. It rewrites backend/listen.go.
func NoSocketActivation(tag string) Release {
	return Release{Tag: tag, Files: map[string]string{
		"backend/listen.go": `package main

import (
	"fmt"
	"net"
)

// listen opens the server's socket on addr.
func listen(addr string) (net.Listener, bool, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, false, fmt.Errorf("cannot listen on %s: %w", addr, err)
	}
	return ln, false, nil
}
`,
	}}
}

// edit replaces the text old, which must occur exactly once, with new.
type edit struct{ old, new string }

// beforeListen inserts code into run in backend/main.go, after the data
// folder is migrated and before the listener opens.
func beforeListen(code string) edit {
	const listen = "\tln, inherited, err := listen(cfg.addr)\n"
	return edit{old: listen, new: code + "\n" + listen}
}

// patched returns the base app's file name (from examples.App) with edits
// applied in order. The base app is embedded, so a missing file or an old
// text that does not occur exactly once is a programming error (the example
// app changed under a constructor): it panics, and the package's tests,
// which build every constructor's release, catch it.
func patched(name string, edits ...edit) string {
	data, err := fs.ReadFile(examples.App, name)
	if err != nil {
		panic(fmt.Sprintf("sandbox: cannot read %s of the example app: %v", name, err))
	}
	s := string(data)
	for _, e := range edits {
		if n := strings.Count(s, e.old); n != 1 {
			panic(fmt.Sprintf("sandbox: %s of the example app contains %q %d times, want once", name, e.old, n))
		}
		s = strings.Replace(s, e.old, e.new, 1)
	}
	return s
}

// validate checks what can be checked without the tree.
func (r Release) validate() error {
	if r.Tag == "" {
		return fmt.Errorf("cannot apply release: %w: tag is empty", ErrInvalidRelease)
	}
	for p := range r.Files {
		if err := checkPath(r.Tag, p); err != nil {
			return err
		}
	}
	for _, p := range r.Remove {
		if err := checkPath(r.Tag, p); err != nil {
			return err
		}
	}
	return nil
}

func checkPath(tag, p string) error {
	if !fs.ValidPath(p) || p == "." || isGitPath(p) {
		return fmt.Errorf("cannot apply release %s: %w: path %q must be slash-separated, relative, inside the repository and outside .git", tag, ErrInvalidRelease, p)
	}
	return nil
}

func isGitPath(p string) bool {
	return p == ".git" || strings.HasPrefix(p, ".git/")
}

// apply writes the release into the work tree at dir.
func (r Release) apply(dir string) error {
	for _, p := range r.Remove {
		target := filepath.Join(dir, filepath.FromSlash(p))
		if _, err := os.Lstat(target); err != nil {
			return fmt.Errorf("cannot remove %s in release %s: %w: it is not in the previous release: %w", p, r.Tag, ErrInvalidRelease, err)
		}
		if err := os.RemoveAll(target); err != nil {
			return fmt.Errorf("cannot remove %s in release %s: %w", p, r.Tag, err)
		}
	}
	if r.Overlay != nil {
		if err := copyFS(dir, r.Overlay); err != nil {
			return fmt.Errorf("cannot apply overlay of release %s: %w", r.Tag, err)
		}
	}
	for p, content := range r.Files {
		if err := writeFile(filepath.Join(dir, filepath.FromSlash(p)), []byte(content), 0o644); err != nil {
			return fmt.Errorf("cannot apply release %s: %w", r.Tag, err)
		}
	}
	return nil
}

// copyFS copies every file of src into dir, replacing existing files.
func copyFS(dir string, src fs.FS) error {
	return fs.WalkDir(src, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if isGitPath(name) {
			return fmt.Errorf("%w: overlay contains %s", ErrInvalidRelease, name)
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%w: overlay file %s is not a regular file", ErrInvalidRelease, name)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		perm := os.FileMode(0o644)
		if info.Mode().Perm()&0o100 != 0 {
			perm = 0o755
		}
		data, err := fs.ReadFile(src, name)
		if err != nil {
			return err
		}
		return writeFile(filepath.Join(dir, filepath.FromSlash(name)), data, perm)
	})
}

// writeFile writes a fixture file. The work tree is thrown away once git
// has the commit, so durability (atomicfile) buys nothing here.
func writeFile(name string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return fmt.Errorf("cannot create folder for %s: %w", name, err)
	}
	if err := os.WriteFile(name, data, perm); err != nil {
		return fmt.Errorf("cannot write %s: %w", name, err)
	}
	// WriteFile keeps the mode of an existing file; an overlay decides it.
	if err := os.Chmod(name, perm); err != nil {
		return fmt.Errorf("cannot set mode of %s: %w", name, err)
	}
	return nil
}
