package releases

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestAddTagNotes: an annotated tag's message becomes its release's notes
// and its date the release's date; the remote (bare, read directly) wins
// over the clone; lightweight tags and releases with notes are left alone.
func TestAddTagNotes(t *testing.T) {
	root := t.TempDir()
	work := filepath.Join(root, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	git(t, work, "init", "-q", "--template=", "-b", "main")
	git(t, work, "commit", "-q", "--allow-empty", "-m", "one")
	git(t, work, "tag", "v1.0.0")
	git(t, work, "tag", "-a", "v1.1.0", "-m", "Faster backups\n\n- hard links\n- a manifest")
	git(t, work, "tag", "-a", "v1.2.0", "-m", "from the remote")
	clone := filepath.Join(root, "clone")
	git(t, root, "clone", "-q", "--template=", work, clone)
	git(t, work, "tag", "-f", "-a", "v1.2.0", "-m", "from the work tree") // the clone keeps the old message
	origin := filepath.Join(root, "origin.git")
	git(t, root, "clone", "-q", "--template=", "--bare", work, origin)

	rels := []Release{
		{Version: "v1.3.0", Tag: "v1.3.0"},
		{Version: "v1.2.0", Tag: "v1.2.0"},
		{Version: "v1.1.0", Tag: "v1.1.0"},
		{Version: "v1.0.0", Tag: "v1.0.0"},
		{Version: "v0.9.0", Tag: "v0.9.0", Notes: "kept"},
	}
	AddTagNotes(rels, LocalPath("file://"+origin), clone)
	want := map[string]string{"v1.3.0": "", "v1.2.0": "from the work tree", "v1.1.0": "Faster backups\n\n- hard links\n- a manifest", "v1.0.0": "", "v0.9.0": "kept"}
	for _, r := range rels {
		if r.Notes != want[r.Version] {
			t.Errorf("%s: notes %q, want %q", r.Version, r.Notes, want[r.Version])
		}
		if dated := !r.PublishedAt.IsZero(); dated != (r.Version == "v1.1.0" || r.Version == "v1.2.0") {
			t.Errorf("%s: date %v", r.Version, r.PublishedAt)
		} else if dated && time.Since(r.PublishedAt) > time.Hour {
			t.Errorf("%s: date %v is not the tag's", r.Version, r.PublishedAt)
		}
	}
	// From the clone alone: its own copy of the tag.
	rels = []Release{{Version: "v1.2.0", Tag: "v1.2.0"}}
	AddTagNotes(rels, "", filepath.Join(root, "missing"), clone)
	if rels[0].Notes != "from the remote" {
		t.Errorf("from the clone: %q", rels[0].Notes)
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/srv/git/app.git":              "/srv/git/app.git",
		"file:///srv/git/app.git":       "/srv/git/app.git",
		"file://localhost/srv/app.git/": "/srv/app.git",
		"https://github.com/a/b.git":    "",
		"git@github.com:a/b.git":        "",
		"relative/app.git":              "",
		"file://otherhost/srv/app.git":  "",
	} {
		if got := LocalPath(in); got != want {
			t.Errorf("LocalPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCapNotes(t *testing.T) {
	short := "# v1.1.0\n\nFaster."
	if CapNotes(short) != short {
		t.Error("short notes changed")
	}
	long := strings.Repeat("é", MaxNotes) // 2 bytes each
	got := CapNotes(long)
	if len(got) > MaxNotes || !utf8.ValidString(got) || !strings.HasSuffix(got, "release page]") {
		t.Errorf("capped notes: %d bytes, valid %t, ends %q", len(got), utf8.ValidString(got), got[len(got)-20:])
	}
}
