package gitrepo

import (
	"context"
	"errors"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// addReleaseToOrigin commits in upstream, tags it (annotated) and pushes
// commit and tag to the bare origin, returning the commit.
func addReleaseToOrigin(t *testing.T, f *fixture, tag string) string {
	t.Helper()
	writeFile(t, f.upstream, "CHANGELOG.md", "release "+tag+"\n", 0o644)
	git(t, f.upstream, "add", "-A")
	git(t, f.upstream, "commit", "-q", "-m", tag)
	git(t, f.upstream, "tag", "-a", tag, "-m", "release "+tag)
	git(t, f.upstream, "push", "-q", f.origin, "main", tag)
	return git(t, f.upstream, "rev-parse", "HEAD")
}

func TestFetchTag(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c13 := addReleaseToOrigin(t, f, "v1.3.0")
	c14 := addReleaseToOrigin(t, f, "v1.4.0")
	r := open(t, f.install)
	ctx := context.Background()

	if _, err := r.ResolveTag("v1.3.0"); !errors.Is(err, ErrTagNotFound) {
		t.Fatalf("before fetch: ResolveTag error = %v, want ErrTagNotFound", err)
	}
	if err := r.FetchTag(ctx, "origin", "v1.3.0"); err != nil {
		t.Fatalf("FetchTag(v1.3.0): %v", err)
	}
	got, err := r.ResolveTag("v1.3.0")
	if err != nil || got != c13 {
		t.Fatalf("after fetch: ResolveTag = %s, %v; want %s", got, err, c13)
	}
	// Only the asked tag: v1.4.0 (whose history contains v1.3.0) stays remote.
	if _, err := r.ResolveTag("v1.4.0"); !errors.Is(err, ErrTagNotFound) {
		t.Errorf("v1.4.0 was fetched too (error %v): tags must not be followed", err)
	}
	// Full history, readable by git itself: not shallow, objects complete.
	if s := git(t, f.install, "rev-parse", "--is-shallow-repository"); s != "false" {
		t.Errorf("repository is shallow after FetchTag")
	}
	if n := git(t, f.install, "rev-list", "--count", "v1.3.0"); n != "4" {
		t.Errorf("v1.3.0 history has %s commits, want 4", n)
	}
	git(t, f.install, "fsck", "--no-progress", "--no-dangling")

	// Idempotent: fetching again is success.
	if err := r.FetchTag(ctx, "origin", "v1.3.0"); err != nil {
		t.Errorf("second FetchTag(v1.3.0) = %v, want nil (already up to date)", err)
	}
	// The fetched commit can be checked out.
	if err := r.Checkout(ctx, c13); err != nil {
		t.Fatalf("Checkout(v1.3.0): %v", err)
	}
	if err := r.FetchTag(ctx, "origin", "v1.4.0"); err != nil {
		t.Fatalf("FetchTag(v1.4.0): %v", err)
	}
	if got, _ := r.ResolveTag("v1.4.0"); got != c14 {
		t.Errorf("ResolveTag(v1.4.0) = %s, want %s", got, c14)
	}
}

func TestFetchTagErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := open(t, f.install)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		remote  string
		tag     string
		wantErr error
	}{
		{"tag missing on remote", context.Background(), "origin", "v9.9.9", ErrTagNotFound},
		{"remote not configured", context.Background(), "upstream", "v1.0.0", ErrRemoteNotFound},
		{"cancelled context", cancelled, "origin", "v1.0.0", context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := r.FetchTag(tt.ctx, tt.remote, tt.tag)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("FetchTag error = %v, want %v", err, tt.wantErr)
			}
		})
	}
	for _, bad := range []string{"", "v1:refs/heads/main", "v*", "a b"} {
		if err := r.FetchTag(context.Background(), "origin", bad); err == nil || errors.Is(err, ErrTagNotFound) {
			t.Errorf("FetchTag(%q) error = %v, want an invalid-name error", bad, err)
		}
	}
}

// hangingServer accepts git smart-HTTP requests and never answers until
// the client goes away. Each request is announced on the returned channel.
func hangingServer(t *testing.T) (url string, hit <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 16)
	done := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ch <- struct{}{}
		select {
		case <-req.Context().Done():
		case <-done:
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		close(done)
		_ = srv.Close()
	})
	return "http://" + ln.Addr().String() + "/app.git", ch
}

// waitErr waits for a result, failing (not hanging) if cancellation is
// not honoured.
func waitErr(t *testing.T, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("call did not return after its context was cancelled")
		return nil
	}
}

func TestFetchTagHonoursCancellation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	url, hit := hangingServer(t)
	git(t, f.install, "remote", "set-url", "origin", url)
	r := open(t, f.install)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- r.FetchTag(ctx, "origin", "v1.3.0") }()
	<-hit // the request is in flight
	cancel()
	if err := waitErr(t, errc); !errors.Is(err, context.Canceled) {
		t.Fatalf("FetchTag error = %v, want context.Canceled", err)
	}
}

func TestListRemoteTagsHonoursCancellation(t *testing.T) {
	t.Parallel()
	url, hit := hangingServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := ListRemoteTags(ctx, url)
		errc <- err
	}()
	<-hit
	cancel()
	if err := waitErr(t, errc); !errors.Is(err, context.Canceled) {
		t.Fatalf("ListRemoteTags error = %v, want context.Canceled", err)
	}
}

func TestListRemoteTags(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// A branch and a non-tag ref must be ignored.
	git(t, f.upstream, "branch", "feature", "v1.1.0")
	git(t, f.upstream, "push", "-q", f.origin, "feature")
	got, err := ListRemoteTags(context.Background(), f.origin)
	if err != nil {
		t.Fatal(err)
	}
	want := []Tag{
		{Name: "v1.0.0", Commit: f.commits["v1.0.0"]}, // lightweight
		{Name: "v1.1.0", Commit: f.commits["v1.1.0"]}, // annotated, peeled
		{Name: "v1.2.0", Commit: f.commits["v1.2.0"]}, // annotated, peeled
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListRemoteTags = %+v\nwant %+v", got, want)
	}

	empty := t.TempDir()
	git(t, empty, "init", "-q", "--bare")
	got, err = ListRemoteTags(context.Background(), empty)
	if err != nil || len(got) != 0 {
		t.Errorf("ListRemoteTags(empty repo) = %v, %v; want no tags, no error", got, err)
	}

	if _, err := ListRemoteTags(context.Background(), t.TempDir()+"/missing.git"); err == nil {
		t.Error("ListRemoteTags(missing repo) succeeded, want an error")
	}
}

func TestListRemoteTagsHidesCredentials(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	for _, url := range []string{
		"http://deploy:s3cr3t-token@" + ln.Addr().String() + "/app.git",
		"http://s3cr3t-token@" + ln.Addr().String() + "/app.git",
	} {
		_, err := ListRemoteTags(context.Background(), url)
		if err == nil {
			t.Fatal("ListRemoteTags against a failing server succeeded")
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("error leaks the credential: %v", err)
		}
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"https://github.com/better-paas/app.git", "https://github.com/better-paas/app.git"},
		{"https://user:pa55@github.com/app.git", "https://xxxxx@github.com/app.git"},
		{"https://ghp_token@github.com/app.git", "https://xxxxx@github.com/app.git"},
		{"ssh://git:pa55@host/app.git", "ssh://git:xxxxx@host/app.git"},
		{"ssh://git@host/app.git", "ssh://git@host/app.git"},
		{"git@github.com:better-paas/app.git", "git@github.com:better-paas/app.git"},
		{"/srv/git/app.git", "/srv/git/app.git"},
	}
	for _, tt := range tests {
		if got := RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
