package artifact

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/github/githubtest"
)

// rangeLog is an httptest server with a custom handler that records each
// request's Range header.
type rangeLog struct {
	*httptest.Server
	mu     sync.Mutex
	ranges []string
}

func newRangeServer(t *testing.T, h http.HandlerFunc) *rangeLog {
	t.Helper()
	s := &rangeLog{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.ranges = append(s.ranges, r.Header.Get("Range"))
		s.mu.Unlock()
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *rangeLog) log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ranges...)
}

func TestFetchResumeAndRestart(t *testing.T) {
	data := payload(5000, 7)
	tests := []struct {
		name       string
		part       []byte // existing .part content
		size       int64
		handler    http.HandlerFunc
		wantRanges []string
	}{
		{
			name: "206 resumes",
			part: data[:1234], size: int64(len(data)),
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.ServeContent(w, r, "f", modTime, strings.NewReader(string(data)))
			},
			wantRanges: []string{"bytes=1234-"},
		},
		{
			name: "200 to a Range request restarts",
			part: []byte("garbage"), size: int64(len(data)),
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", strconv.Itoa(len(data)))
				_, _ = w.Write(data)
			},
			wantRanges: []string{"bytes=7-"},
		},
		{
			name: "Content-Range at another offset restarts from 0",
			part: data[:100], size: int64(len(data)),
			handler: func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Range") == "" {
					_, _ = w.Write(data)
					return
				}
				w.Header().Set("Content-Range", fmt.Sprintf("bytes 50-%d/%d", len(data)-1, len(data)))
				w.WriteHeader(http.StatusPartialContent)
				_, _ = w.Write(data[50:])
			},
			wantRanges: []string{"bytes=100-", ""},
		},
		{
			name: "416 restarts from 0",
			part: append(append([]byte(nil), data...), "tail"...), size: 0,
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.ServeContent(w, r, "f", modTime, strings.NewReader(string(data)))
			},
			wantRanges: []string{fmt.Sprintf("bytes=%d-", len(data)+4), ""},
		},
		{
			name: "part longer than the expected size restarts without asking",
			part: append(append([]byte(nil), data...), "tail"...), size: int64(len(data)),
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.ServeContent(w, r, "f", modTime, strings.NewReader(string(data)))
			},
			wantRanges: []string{""},
		},
		{
			name: "complete part is not downloaded again",
			part: data, size: int64(len(data)),
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "must not be asked", http.StatusTeapot)
			},
			wantRanges: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRangeServer(t, tt.handler)
			dst := filepath.Join(t.TempDir(), "out")
			if err := os.WriteFile(dst+PartSuffix, tt.part, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := (Downloader{}).Fetch(context.Background(), srv.URL+"/f", dst, tt.size); err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			wantFile(t, dst, data)
			wantAbsent(t, dst+PartSuffix)
			if got := srv.log(); fmt.Sprint(got) != fmt.Sprint(tt.wantRanges) {
				t.Errorf("Range headers = %q, want %q", got, tt.wantRanges)
			}
		})
	}
}

func TestFetchSizeCap(t *testing.T) {
	big := payload(3000, 3)
	tests := []struct {
		name    string
		size    int64
		handler http.HandlerFunc
		want    string
	}{
		{"listed size over the cap", 3000, nil, "larger than the limit"},
		{"Content-Length over the cap", 0, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "3000")
			_, _ = w.Write(big)
		}, "announces 3000 bytes, larger than the limit"},
		{"chunked body over the cap", 0, func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i < len(big); i += 500 {
				_, _ = w.Write(big[i : i+500])
				w.(http.Flusher).Flush()
			}
		}, "larger than the limit"},
		{"body longer than the listed size", 1000, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Transfer-Encoding", "chunked")
			_, _ = w.Write(big[:1500])
			w.(http.Flusher).Flush()
		}, "more than the 1000 bytes"},
		{"Content-Length other than the listed size", 1000, func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(big[:999])
		}, "announces 999 bytes, the release lists 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.handler
			if h == nil {
				h = func(w http.ResponseWriter, r *http.Request) { t.Error("no request expected") }
			}
			srv := newRangeServer(t, h)
			dst := filepath.Join(t.TempDir(), "out")
			err := Downloader{MaxSize: 2000}.Fetch(context.Background(), srv.URL+"/f", dst, tt.size)
			wantClass(t, err, true, false)
			if err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			wantAbsent(t, dst, dst+PartSuffix)
		})
	}
}

// TestFetchTokenOnlyToFirstHost: GitHub's download URL gets the token,
// the storage host it redirects to (another port) does not.
func TestFetchTokenOnlyToFirstHost(t *testing.T) {
	srv := githubtest.New(t)
	srv.RequireToken("ghp_secret")
	srv.AddRelease("acme", "app", "v1.0.0", map[string][]byte{"a.bin": []byte("hello")})
	dst := filepath.Join(t.TempDir(), "a.bin")
	d := Downloader{Token: "ghp_secret", UserAgent: "test-agent"}
	if err := d.Fetch(context.Background(), srv.DownloadURL("acme", "app", "v1.0.0", "a.bin"), dst, 5); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	wantFile(t, dst, []byte("hello"))
	var hosts []string
	for _, r := range srv.Log() {
		hosts = append(hosts, r.Host)
		auth := r.Header.Get("Authorization")
		switch r.Host {
		case "api":
			if auth != "Bearer ghp_secret" {
				t.Errorf("download host got Authorization %q, want the token", auth)
			}
		case "objects":
			if auth != "" {
				t.Errorf("storage host got Authorization %q, want none", auth)
			}
		}
		if ua := r.Header.Get("User-Agent"); ua != "test-agent" {
			t.Errorf("User-Agent = %q", ua)
		}
	}
	if fmt.Sprint(hosts) != "[api objects]" {
		t.Errorf("hosts asked = %v, want [api objects]", hosts)
	}

	err := d.Fetch(context.Background(), "http://example.invalid/a.bin", dst+"2", 0)
	if err == nil || !strings.Contains(err.Error(), "plain http") {
		t.Errorf("token over plain http to a remote host: %v, want a refusal", err)
	}
}

func TestFetchStallTimeout(t *testing.T) {
	srv := githubtest.New(t)
	srv.AddRelease("acme", "app", "v1.0.0", map[string][]byte{"a.bin": payload(1000, 1)})
	release := make(chan struct{})
	defer close(release)
	srv.FailNext(1, githubtest.Stall(10, release))
	dst := filepath.Join(t.TempDir(), "a.bin")
	d := Downloader{StallTimeout: 250 * time.Millisecond}
	err := d.Fetch(context.Background(), srv.DownloadURL("acme", "app", "v1.0.0", "a.bin"), dst, 1000)
	wantClass(t, err, false, false)
	if err != nil && !strings.Contains(err.Error(), "stall") {
		t.Errorf("error %q does not name the stall", err)
	}
	wantAbsent(t, dst)
	if fi, err := os.Stat(dst + PartSuffix); err != nil || fi.Size() != 10 {
		t.Errorf("part file: %v %v, want the 10 bytes received", fi, err)
	}
}

func TestFetchCancel(t *testing.T) {
	started := make(chan struct{})
	srv := newRangeServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		_, _ = w.Write([]byte("0123456789"))
		w.(http.Flusher).Flush()
		close(started)
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	dst := filepath.Join(t.TempDir(), "out")
	go func() { done <- (Downloader{}).Fetch(ctx, srv.URL+"/f", dst, 100) }()
	<-started
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	wantClass(t, err, false, false)
	wantAbsent(t, dst)
}

func TestFetchStatusIsTransient(t *testing.T) {
	srv := newRangeServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream down", http.StatusBadGateway)
	})
	dst := filepath.Join(t.TempDir(), "out")
	err := (Downloader{}).Fetch(context.Background(), srv.URL+"/f?token=secret", dst, 0)
	wantClass(t, err, false, false)
	if err != nil && (!strings.Contains(err.Error(), "502") || strings.Contains(err.Error(), "secret")) {
		t.Errorf("error %q: want the status, without the query", err)
	}
	wantAbsent(t, dst)
}
