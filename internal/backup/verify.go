package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/better-paas/updater/internal/backup/manifest"
)

// Verify re-reads backup id under root and compares it with its manifest:
// every entry must exist with the recorded type, mode (minus its write
// bits: copies in a backup are read-only, see Create), owner (when the
// backup copied owners), mtime, symlink target or device number, and every
// file must have the recorded size and sha256; nothing may be there that
// the manifest does not list. The copy of each extra path (see Paths) is
// checked the same way against its own manifest; its mismatches name the
// path in the install and the extra path (Mismatch.Part), and an extra
// path whose copy is not whole is a mismatch too. It is what `backups
// verify ID` runs, and it only reads.
//
// Verify looks at every entry, whatever it found before: a mismatch
// returns a *CorruptError (errors.Is ErrCorrupt) whose Mismatches name
// every bad path, each with everything that differs there (a file an
// editor made writable and changed says both). A backup from before
// copies were read-only (no readOnly in its manifest) may have either the
// recorded mode or the read-only one. ErrNotFound and ErrIncomplete mean
// there is no complete backup to verify; ErrUnsafePath means its manifest
// lists a path outside the backup (nothing is read then); a cancelled ctx
// returns its error.
func Verify(ctx context.Context, root, id string) error {
	m, err := load(root, id)
	if err != nil {
		return err
	}
	dir := filepath.Join(root, id)
	ms, err := mismatches(verifyTree(ctx, id, filepath.Join(dir, DataDir), m, m.Owners, storedModes(m)))
	if err != nil {
		return err
	}
	for _, p := range m.Parts {
		pm, err := readPart(dir, id, p, ManifestName)
		switch {
		case errors.Is(err, ErrUnsafePath):
			return err
		case err != nil:
			ms = append(ms, Mismatch{Part: p, Path: p, Problem: fmt.Sprintf("its copy is not whole: %v", err)})
			continue
		}
		pms, err := mismatches(verifyTree(ctx, id, filepath.Join(partFolder(dir, p), DataDir), pm, pm.Owners, storedModes(pm)))
		if err != nil {
			return err
		}
		for _, pmm := range pms {
			ms = append(ms, Mismatch{Part: p, Path: displayPath(p, pmm.Path), Problem: pmm.Problem})
		}
	}
	if len(ms) > 0 {
		return newCorruptError(id, ms)
	}
	return nil
}

// storedModes is the mode Verify wants for the copies m describes.
func storedModes(m *manifest.Manifest) modeCheck {
	if m.ReadOnly {
		return readOnlyModes
	}
	return eitherMode
}

// mismatches returns the mismatches of a *CorruptError, nil for a nil
// error, and any other error as it is.
func mismatches(err error) ([]Mismatch, error) {
	var ce *CorruptError
	if errors.As(err, &ce) {
		return ce.Mismatches, nil
	}
	return nil, err
}

// modeCheck is the mode verifyTree wants for an entry.
type modeCheck int

const (
	// recordedMode: the mode in the manifest (a restored copy).
	recordedMode modeCheck = iota
	// readOnlyModes: the mode in the manifest minus its write bits (a
	// backup whose manifest says ReadOnly).
	readOnlyModes
	// eitherMode: either of them (an older backup, whose copies a later
	// backup may have made read-only by linking them).
	eitherMode
)

// verifyTree compares the folder dir with the manifest m; owners says
// whether to compare owners, modes which mode to want. It returns a
// *CorruptError naming every entry that differs.
func verifyTree(ctx context.Context, id, dir string, m *manifest.Manifest, owners bool, modes modeCheck) error {
	// problems[i] is what differs at entry i; a job hashing a file is
	// the only writer of its entry's once submitted.
	problems := make([][]string, len(m.Entries))
	p := newPool(ctx, "verify backup "+id)
entries:
	for i := range m.Entries {
		e := &m.Entries[i]
		path := joinRel(dir, e.Path)
		st, err := lstat(path)
		if err != nil {
			problems[i] = []string{fmt.Sprintf("cannot inspect it: %v", err)}
			continue
		}
		probs, sameType := compareMeta(e, &st, owners, modes)
		problems[i] = probs
		if !sameType {
			continue
		}
		switch e.Type {
		case manifest.TypeSymlink:
			if target, err := os.Readlink(path); err != nil || target != e.Target {
				problems[i] = append(problems[i], fmt.Sprintf("symlink target %q, manifest says %q", target, e.Target))
			}
		case manifest.TypeFile:
			if st.size != e.Size {
				continue // compareMeta said so; the content differs too
			}
			if err := p.submit(func(buf []byte) error {
				problem := hashProblem(p.ctx, path, e, buf)
				if ctx.Err() != nil {
					return fmt.Errorf("cannot verify backup %s: %w", id, ctx.Err())
				}
				if problem != "" {
					problems[i] = append(problems[i], problem)
				}
				return nil
			}); err != nil {
				break entries // the pool stopped: wait says why
			}
		}
	}
	if err := p.wait(); err != nil {
		return err
	}
	var ms []Mismatch
	for i, probs := range problems {
		if len(probs) > 0 {
			ms = append(ms, Mismatch{Path: m.Entries[i].Path, Problem: strings.Join(probs, "; ")})
		}
	}
	extras, err := checkExtras(ctx, id, dir, m)
	if err != nil {
		return err
	}
	if ms = append(ms, extras...); len(ms) > 0 {
		return newCorruptError(id, ms)
	}
	return nil
}

// hashProblem reads the file at path and says how its content differs
// from the entry e, or "".
func hashProblem(ctx context.Context, path string, e *manifest.Entry, buf []byte) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("cannot open it: %v", err)
	}
	defer f.Close()
	var n int64
	var sum string
	var sys unix.Stat_t
	if err = unix.Fstat(int(f.Fd()), &sys); err == nil {
		if st := fromSys(&sys); maybeSparse(&st) {
			n, sum, err = hashSparse(ctx, int(f.Fd()), path, st.size, buf)
		} else {
			n, sum, err = hashContent(ctx, f, buf)
		}
	}
	switch {
	case ctx.Err() != nil:
		return ""
	case err != nil:
		return fmt.Sprintf("cannot read it: %v", err)
	case n != e.Size:
		return fmt.Sprintf("size %d, manifest says %d", n, e.Size)
	case sum != e.SHA256:
		return fmt.Sprintf("sha256 %s, manifest says %s", sum, e.SHA256)
	}
	return ""
}

// compareMeta returns what differs between the entry and st, each
// difference once; sameType is false when the type differs, and nothing
// else is compared then.
func compareMeta(e *manifest.Entry, st *stat, owners bool, modes modeCheck) (problems []string, sameType bool) {
	got := entryFor(e.Path, st)
	if got.Type != e.Type {
		return []string{fmt.Sprintf("it is a %s, manifest says %s", got.Type, e.Type)}, false
	}
	if e.Type == manifest.TypeFile && st.size != e.Size {
		problems = append(problems, fmt.Sprintf("size %d, manifest says %d", st.size, e.Size))
	}
	if e.Type != manifest.TypeSymlink {
		ro := readOnly.applyString(e.Mode)
		switch {
		case modes == recordedMode && got.Mode != e.Mode:
			problems = append(problems, fmt.Sprintf("mode %s, manifest says %s", got.Mode, e.Mode))
		case modes == readOnlyModes && got.Mode != ro:
			problems = append(problems, fmt.Sprintf("mode %s, want %s (the manifest's %s without write bits)", got.Mode, ro, e.Mode))
		case modes == eitherMode && got.Mode != e.Mode && got.Mode != ro:
			problems = append(problems, fmt.Sprintf("mode %s, manifest says %s (or %s, read-only)", got.Mode, e.Mode, ro))
		}
	}
	if owners && (got.UID != e.UID || got.GID != e.GID) {
		problems = append(problems, fmt.Sprintf("owner %d:%d, manifest says %d:%d", got.UID, got.GID, e.UID, e.GID))
	}
	if !got.ModTime.Equal(e.ModTime) {
		problems = append(problems, fmt.Sprintf("mtime %s, manifest says %s", got.ModTime.Format(time.RFC3339Nano), e.ModTime.UTC().Format(time.RFC3339Nano)))
	}
	if got.Rdev != e.Rdev {
		problems = append(problems, fmt.Sprintf("device %d, manifest says %d", got.Rdev, e.Rdev))
	}
	return problems, true
}

// checkExtras returns the entries below dir that the manifest does not
// list, in walk order; the contents of an unlisted folder are not listed
// again.
func checkExtras(ctx context.Context, id, dir string, m *manifest.Manifest) ([]Mismatch, error) {
	listed := make(map[string]bool, len(m.Entries))
	for i := range m.Entries {
		listed[m.Entries[i].Path] = true
	}
	var extras []Mismatch
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel := "."
		if p != dir {
			rel = strings.TrimPrefix(p, dir+"/")
		}
		if !listed[rel] && !(rel == "." && m.SourceMissing) {
			extras = append(extras, Mismatch{Path: rel, Problem: "it is not in the manifest"})
			if d.IsDir() {
				return fs.SkipDir
			}
		}
		return nil
	})
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, fmt.Errorf("cannot verify backup %s: %w", id, ctx.Err())
	case err != nil:
		return nil, fmt.Errorf("cannot verify backup %s: %w", id, err)
	}
	return extras, nil
}
