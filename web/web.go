package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed static
var static embed.FS

// Options configures Handler.
type Options struct {
	// FrameAncestors are the sources allowed to embed the page in a frame
	// (CSP frame-ancestors), e.g. "https://dashboard.example.com" or
	// "'self'"; api.frameAncestors in updater.yaml. Empty means 'none': no
	// page may frame it. Each value must pass CheckFrameAncestors; if one
	// does not, the handler sends 'none' rather than a policy an attacker
	// could extend.
	FrameAncestors []string
}

// asset is one embedded file as served.
type asset struct {
	// name is the file under static/, served straight from the embedded
	// bytes (no copy on the heap); empty for index.html, served from body.
	name        string
	body        []byte // index.html as linked to the assets' digests
	contentType string
	etag        string // strong, quoted: the first 16 hex digits of its sha256
	version     string // the same digits, unquoted: the ?v= the page links it with
}

// content is what ServeContent sends for a.
func (a asset) content() (io.ReadSeeker, error) {
	if a.name == "" {
		return bytes.NewReader(a.body), nil
	}
	f, err := static.Open("static/" + a.name)
	if err != nil {
		return nil, err
	}
	return f.(io.ReadSeeker), nil // embed's files seek
}

// page is what Handler serves, built from the embedded files on the
// first request: a daemon whose page nobody opens neither hashes the
// files nor keeps them on its heap.
type page struct {
	index  asset
	assets map[string]asset // by name under /assets/
}

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// newAsset describes the file name whose bytes r reads: its content type
// and digest.
func newAsset(name string, r io.Reader) (asset, error) {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		return asset{}, fmt.Errorf("cannot read embedded file %s: %w", name, err)
	}
	v := hex.EncodeToString(h.Sum(nil)[:8])
	return asset{contentType: contentTypes[path.Ext(name)], etag: `"` + v + `"`, version: v}, nil
}

// load reads the embedded files and links index.html to each asset with
// its digest (assets/app.js?v=<digest>), so a browser may keep an asset
// for a year yet never runs a script of another build. Only index.html is
// copied; the assets are served from the embedded bytes.
func load() (*page, error) {
	p := &page{assets: map[string]asset{}}
	entries, err := fs.ReadDir(static, "static")
	if err != nil {
		return nil, err
	}
	var index []byte
	for _, e := range entries {
		if e.Name() == "index.html" {
			if index, err = fs.ReadFile(static, "static/index.html"); err != nil {
				return nil, err
			}
			continue
		}
		if _, ok := contentTypes[path.Ext(e.Name())]; !ok {
			return nil, fmt.Errorf("embedded file %s has no known content type", e.Name())
		}
		f, err := static.Open("static/" + e.Name())
		if err != nil {
			return nil, err
		}
		a, err := newAsset(e.Name(), f)
		_ = f.Close() // an embedded file: closing cannot fail
		if err != nil {
			return nil, err
		}
		a.name = e.Name()
		p.assets[e.Name()] = a
	}
	if index == nil {
		return nil, errors.New("index.html is not embedded")
	}
	for name, a := range p.assets {
		index = bytes.ReplaceAll(index, []byte(`"assets/`+name+`"`), []byte(`"assets/`+name+`?v=`+a.version+`"`))
	}
	if p.index, err = newAsset("index.html", bytes.NewReader(index)); err != nil {
		return nil, err
	}
	p.index.body = index
	return p, nil
}

// Handler serves the page: GET or HEAD of "/" (also "/index.html") and of
// "/assets/<name>". Anything else under it answers 404, and other methods
// 405, both as the API's JSON errors. Every answer carries the
// Content-Security-Policy (default-src 'self'; frame-ancestors from o;
// base-uri 'none'; form-action 'none'), X-Content-Type-Options: nosniff and
// Referrer-Policy: no-referrer. The document is revalidated on every load
// (no-cache, with an ETag); an asset requested with the digest the
// document links it with is cacheable for a year, without it no-cache.
//
// Mount it at "/" beside /api/v1; it needs no authentication, as the page
// holds no data.
//
// The page is built on the first request, once however many come at once
// (see page).
func Handler(o Options) http.Handler {
	pageOnce := sync.OnceValues(load)
	csp := "default-src 'self'; frame-ancestors " + frameAncestors(o.FrameAncestors) + "; base-uri 'none'; form-action 'none'"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		p, err := pageOnce()
		if err != nil {
			// The files are compiled in: this is a broken build, not a
			// condition a running daemon can meet.
			writeError(w, http.StatusInternalServerError, "internal", "the page built into this daemon is broken ("+err.Error()+"); rebuild or reinstall the updater")
			return
		}
		var a asset
		immutable := false
		switch name, isAsset := strings.CutPrefix(r.URL.Path, "/assets/"); {
		case r.URL.Path == "/" || r.URL.Path == "/index.html":
			a = p.index
		case isAsset && p.assets[name].name != "":
			a = p.assets[name]
			immutable = r.URL.Query().Get("v") == a.version
		default:
			writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("there is no page at %s: the Software Updates page is at /", r.URL.Path))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s is not allowed here: the page answers GET and HEAD", r.Method))
			return
		}
		h.Set("Content-Type", a.contentType)
		h.Set("ETag", a.etag)
		if immutable {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		body, err := a.content()
		if err != nil {
			writeError(w, http.StatusInternalServerError, "internal", "cannot open the embedded file "+a.name+": "+err.Error())
			return
		}
		if c, ok := body.(io.Closer); ok {
			defer c.Close()
		}
		// ServeContent answers If-None-Match with 304 and serves ranges.
		http.ServeContent(w, r, "", time.Time{}, body)
	})
}

// writeError answers in the API's error shape, so every answer of the
// daemon that is not the page reads the same.
func writeError(w http.ResponseWriter, code int, errCode, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"error":{"code":%q,"message":%q}}`+"\n", errCode, message)
}

// frameAncestors renders the frame-ancestors source list: 'none' when
// sources is empty or any source is invalid.
func frameAncestors(sources []string) string {
	if len(sources) == 0 || CheckFrameAncestors(sources) != nil {
		return "'none'"
	}
	return strings.Join(sources, " ")
}

// CheckFrameAncestors reports whether sources can go into the CSP
// frame-ancestors directive as they are: each one 'self', 'none' (alone),
// or one source expression such as "https://dashboard.example.com",
// "https://*.example.com" or "https:", without the spaces, commas,
// semicolons, quotes or other characters that would end the directive and
// let a value add another. It guards the header; internal/config checks the
// grammar of api.frameAncestors. The error names the bad value and the fix.
func CheckFrameAncestors(sources []string) error {
	for _, s := range sources {
		if err := checkSource(s); err != nil {
			return fmt.Errorf("frameAncestors: %q %w", s, err)
		}
		if s == "'none'" && len(sources) > 1 {
			return errors.New("frameAncestors: 'none' must be the only value; remove it to allow the others")
		}
	}
	return nil
}

func checkSource(s string) error {
	switch {
	case s == "'self'" || s == "'none'":
		return nil
	case s == "":
		return errors.New("is empty: give an origin such as https://dashboard.example.com")
	case strings.ContainsAny(s, ";,'\"\\"):
		return errors.New("holds a comma, semicolon, quote or backslash: give one source per value, such as https://dashboard.example.com, or 'self'")
	}
	for _, c := range s {
		if c <= 0x20 || c >= 0x7f {
			return errors.New("holds a space or a character outside printable ASCII: give one source per value, with the host in its ASCII (punycode) form")
		}
	}
	return nil
}
