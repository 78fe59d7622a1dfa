package releases

import (
	"net/url"
	"path/filepath"
	"strings"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
)

// TagNote is what an annotated tag says about its release.
type TagNote struct {
	// Message is the tag's message without its signature, trimmed and
	// capped (CapNotes).
	Message string
	// Date is when the tag was made (its tagger's date).
	Date time.Time
}

// TagNotes reads the annotated tags named tags from the git repositories
// at dirs (a clone or a bare repository; "" entries are skipped) and
// returns the note of each tag found, the first repository holding a tag
// winning. Lightweight tags, tags with an empty message, and repositories
// that cannot be opened or read are skipped: notes are a courtesy, never a
// reason to fail a check. It reads only the local disk.
func TagNotes(tags []string, dirs ...string) map[string]TagNote {
	notes := make(map[string]TagNote)
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		repo, err := gogit.PlainOpen(dir)
		if err != nil {
			continue
		}
		for _, tag := range tags {
			if _, done := notes[tag]; done {
				continue
			}
			if n, ok := tagNote(repo, tag); ok {
				notes[tag] = n
			}
		}
	}
	return notes
}

// tagNote reads the annotated tag named tag in repo.
func tagNote(repo *gogit.Repository, tag string) (TagNote, bool) {
	ref, err := repo.Reference(plumbing.NewTagReferenceName(tag), true)
	if err != nil {
		return TagNote{}, false
	}
	obj, err := repo.TagObject(ref.Hash())
	if err != nil { // a lightweight tag names a commit, not a tag object
		return TagNote{}, false
	}
	msg := strings.TrimSpace(obj.Message)
	if msg == "" {
		return TagNote{}, false
	}
	return TagNote{Message: CapNotes(msg), Date: obj.Tagger.When.UTC()}, true
}

// LocalPath returns the folder a git remote URL names when it is on this
// machine (an absolute path, or a file:// URL), "" otherwise. Such a
// remote can be read directly for the tags' notes, before they are fetched.
func LocalPath(rawURL string) string {
	if filepath.IsAbs(rawURL) {
		return filepath.Clean(rawURL)
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "file" || (u.Host != "" && u.Host != "localhost") || !filepath.IsAbs(u.Path) {
		return ""
	}
	return filepath.Clean(u.Path)
}

// AddTagNotes fills in, for each release that has no notes, the message
// of its annotated tag, and its date when the release has none, from the
// repositories at dirs (see TagNotes).
func AddTagNotes(rels []Release, dirs ...string) {
	tags := make([]string, 0, len(rels))
	for _, r := range rels {
		if r.Notes == "" {
			tags = append(tags, r.Tag)
		}
	}
	if len(tags) == 0 {
		return
	}
	notes := TagNotes(tags, dirs...)
	for i := range rels {
		r := &rels[i]
		n, ok := notes[r.Tag]
		if !ok || r.Notes != "" {
			continue
		}
		r.Notes = n.Message
		if r.PublishedAt.IsZero() {
			r.PublishedAt = n.Date
		}
	}
}
