package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/better-paas/updater/internal/gitrepo"
)

// The fetch bench: go-git's incremental fetch of one new tag, as the
// updater's fetch step does it (gitrepo.FetchTag: that tag only, no other
// tags, never shallow), against `git fetch` of the same tag into an
// identical clone, in the same run.
func init() {
	register(Measure{Group: "Overhead", Name: "go-git fetch of a new tag", Run: runGitFetch})
}

// fetchRepo is the realistic repository the fetch bench serves: a history
// of fetchCommits commits over fetchFiles source-like files (a few MB),
// then a release of fetchNewCommits commits the clones do not have yet.
var fetchRepo = synthSpec{
	Files:    3000,
	Dirs:     150,
	FileSize: 1500,
	Commits:  3000,
	Touch:    3,
}

const (
	fetchNewCommits = 40 // commits in the release being fetched
	fetchNewTouch   = 4  // files each of them changes
)

func runGitFetch(ctx context.Context, env *Env) ([]Result, error) {
	dir := filepath.Join(env.WorkDir, "gitfetch")
	origin := filepath.Join(dir, "origin.git")
	start := time.Now()
	g, err := newSynthRepo(ctx, origin, fetchRepo)
	if err != nil {
		return nil, err
	}
	if err := g.Tag(ctx, "v1.0.0"); err != nil {
		return nil, err
	}
	if err := toolGit(ctx, origin, "repack", "-a", "-d", "-q"); err != nil {
		return nil, err
	}
	// The template clone: what an install has before the release.
	tmpl := filepath.Join(dir, "template")
	if err := toolGit(ctx, "", "clone", "--quiet", "--no-checkout", "--no-hardlinks", origin, tmpl); err != nil {
		return nil, err
	}
	// The release, pushed to the origin after the clones were made.
	if err := g.Commits(ctx, fetchNewCommits, fetchNewTouch); err != nil {
		return nil, err
	}
	if err := g.Tag(ctx, "v1.1.0"); err != nil {
		return nil, err
	}
	want, err := toolGitOutput(ctx, origin, "rev-parse", "v1.1.0^{commit}")
	if err != nil {
		return nil, err
	}
	size, _ := dirSize(origin)
	env.Log.Printf("fetch: repository of %d commits, %d files, %.1f MiB packed, generated in %s",
		fetchRepo.Commits+fetchNewCommits+1, fetchRepo.Files, float64(size)/(1<<20), time.Since(start).Round(time.Millisecond))

	var ours, theirs []float64
	for i := range env.Runs {
		a, b := filepath.Join(dir, fmt.Sprintf("gogit-%d", i)), filepath.Join(dir, fmt.Sprintf("git-%d", i))
		for _, d := range []string{a, b} {
			if err := copyTree(ctx, tmpl, d); err != nil {
				return nil, err
			}
		}
		settleDisk()
		goGit := func() (time.Duration, error) {
			r, err := gitrepo.Open(a)
			if err != nil {
				return 0, err
			}
			began := time.Now()
			if err := r.FetchTag(ctx, "origin", "v1.1.0"); err != nil {
				return 0, err
			}
			took := time.Since(began)
			got, err := r.ResolveTag("v1.1.0")
			if err != nil {
				return 0, err
			}
			if got != want {
				return 0, fmt.Errorf("go-git fetched v1.1.0 at %s, want %s", got, want)
			}
			return took, nil
		}
		cli := func() (time.Duration, error) {
			began := time.Now()
			if err := toolGit(ctx, b, "fetch", "--quiet", "--no-tags", "origin", "+refs/tags/v1.1.0:refs/tags/v1.1.0"); err != nil {
				return 0, err
			}
			took := time.Since(began)
			got, err := toolGitOutput(ctx, b, "rev-parse", "v1.1.0^{commit}")
			if err != nil {
				return 0, err
			}
			if got != want {
				return 0, fmt.Errorf("git fetched v1.1.0 at %s, want %s", got, want)
			}
			return took, nil
		}
		o, t, err := alternate(i, goGit, cli)
		if err != nil {
			return nil, err
		}
		ours, theirs = append(ours, durMs(o)), append(theirs, durMs(t))
		for _, d := range []string{a, b} {
			_ = os.RemoveAll(d)
		}
	}
	ratio := median(ours) / median(theirs)
	return []Result{{
		Group:        "Overhead",
		Name:         fmt.Sprintf("fetch of a new tag (%d commits) from a local bare repo", fetchNewCommits),
		Unit:         "ms",
		Runs:         ours,
		Baseline:     "git fetch",
		BaselineRuns: theirs,
		Target:       "<= 1.3x",
		Pass:         boolPtr(ratio <= 1.3),
		Note: fmt.Sprintf("gitrepo.FetchTag (go-git, refs/tags/v1.1.0 only, no tags followed, full history, packs fsynced) "+
			"vs `git fetch --no-tags origin +refs/tags/v1.1.0:refs/tags/v1.1.0` into identical copies of one clone "+
			"(%d commits, %d files in %d folders, %.1f MiB packed); the release adds %d commits changing %d files each. "+
			"Both fetch through git-upload-pack on the same bare repo; order alternates each run; page cache warm.",
			fetchRepo.Commits+1, fetchRepo.Files, fetchRepo.Dirs, float64(size)/(1<<20), fetchNewCommits, fetchNewTouch),
	}}, nil
}

// alternate runs a then b on even runs and b then a on odd ones, so
// neither always pays for the other's write-back, and returns their times
// in the order a, b.
func alternate(run int, a, b func() (time.Duration, error)) (time.Duration, time.Duration, error) {
	first, second := a, b
	if run%2 == 1 {
		first, second = b, a
	}
	d1, err := first()
	if err != nil {
		return 0, 0, err
	}
	settleDisk()
	d2, err := second()
	if err != nil {
		return 0, 0, err
	}
	settleDisk()
	if run%2 == 1 {
		d1, d2 = d2, d1
	}
	return d1, d2, nil
}

// durMs is d in milliseconds.
func durMs(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// synthSpec shapes a generated repository: Files source-like text files of
// about FileSize bytes spread over Dirs folders, added by one commit and
// then edited by Commits more commits, each changing Touch files by a few
// lines, as a code base's history does.
type synthSpec struct {
	Files, Dirs, FileSize int
	Commits, Touch        int
}

// synthRepo writes a generated history into a bare repository through
// `git fast-import`, which makes thousands of commits in seconds. Commits
// and tags get fixed dates and identities, and the content comes from a
// fixed seed, so every run generates the same repository.
type synthRepo struct {
	dir     string
	spec    synthSpec
	rng     *rand.Rand
	paths   []string
	content map[string][]byte
	n       int // commits made so far
}

// newSynthRepo creates a bare repository at dir holding spec's history on
// branch main.
func newSynthRepo(ctx context.Context, dir string, spec synthSpec) (*synthRepo, error) {
	if err := toolGit(ctx, "", "init", "--quiet", "--bare", dir); err != nil {
		return nil, err
	}
	g := &synthRepo{dir: dir, spec: spec, rng: rand.New(rand.NewPCG(15, 6)), content: map[string][]byte{}}
	for i := range spec.Files {
		p := fmt.Sprintf("src/pkg%03d/mod%02d/file%05d.go", i%spec.Dirs, (i/spec.Dirs)%7, i)
		g.paths = append(g.paths, p)
		g.content[p] = g.text(spec.FileSize)
	}
	var s bytes.Buffer
	g.commitHeader(&s, "initial import")
	for _, p := range g.paths {
		writeInline(&s, p, g.content[p])
	}
	g.n++
	for range spec.Commits {
		g.editCommit(&s, spec.Touch)
	}
	if err := g.fastImport(ctx, &s); err != nil {
		return nil, err
	}
	return g, nil
}

// Commits adds n commits, each changing touch files, on top of main.
func (g *synthRepo) Commits(ctx context.Context, n, touch int) error {
	var s bytes.Buffer
	for range n {
		g.editCommit(&s, touch)
	}
	return g.fastImport(ctx, &s)
}

// Change adds one commit that rewrites every nth file by a few lines,
// removes del files and adds add new ones.
func (g *synthRepo) Change(ctx context.Context, every, del, add int) error {
	var s bytes.Buffer
	g.commitHeader(&s, fmt.Sprintf("release %d", g.n))
	for i, p := range g.paths {
		if i%every == 0 {
			g.content[p] = g.edit(g.content[p])
			writeInline(&s, p, g.content[p])
		}
	}
	for range del {
		i := g.rng.IntN(len(g.paths))
		p := g.paths[i]
		g.paths = append(g.paths[:i], g.paths[i+1:]...)
		delete(g.content, p)
		fmt.Fprintf(&s, "D %s\n", p)
	}
	for j := range add {
		p := fmt.Sprintf("src/new%03d/added%05d.go", g.n%100, j)
		g.paths = append(g.paths, p)
		g.content[p] = g.text(g.spec.FileSize)
		writeInline(&s, p, g.content[p])
	}
	g.n++
	return g.fastImport(ctx, &s)
}

// Tag tags main's tip with an annotated tag.
func (g *synthRepo) Tag(ctx context.Context, tag string) error {
	var s bytes.Buffer
	fmt.Fprintf(&s, "tag %s\nfrom refs/heads/main\ntagger Bench <bench@example.invalid> %d +0000\n", tag, g.date())
	msg := "Release " + tag + "\n"
	fmt.Fprintf(&s, "data %d\n%s\n", len(msg), msg)
	return g.fastImport(ctx, &s)
}

func (g *synthRepo) date() int64 { return 1704110400 + int64(g.n)*3600 }

func (g *synthRepo) commitHeader(s *bytes.Buffer, msg string) {
	// Within one fast-import stream a commit follows the branch's previous
	// one; the first commit of a later stream must say where main is.
	continues := g.n > 0 && s.Len() == 0
	fmt.Fprintf(s, "commit refs/heads/main\nauthor Bench <bench@example.invalid> %d +0000\ncommitter Bench <bench@example.invalid> %d +0000\n", g.date(), g.date())
	fmt.Fprintf(s, "data %d\n%s\n", len(msg), msg)
	if continues {
		s.WriteString("from refs/heads/main^0\n")
	}
}

func (g *synthRepo) editCommit(s *bytes.Buffer, touch int) {
	g.commitHeader(s, fmt.Sprintf("change %d", g.n))
	for range touch {
		p := g.paths[g.rng.IntN(len(g.paths))]
		g.content[p] = g.edit(g.content[p])
		writeInline(s, p, g.content[p])
	}
	g.n++
}

func writeInline(s *bytes.Buffer, path string, data []byte) {
	fmt.Fprintf(s, "M 100644 inline %s\ndata %d\n", path, len(data))
	s.Write(data)
	s.WriteByte('\n')
}

// benchWords make generated files look like source code to zlib and to
// git's delta compression: repetitive words, varied lines.
var benchWords = strings.Fields("func return if err nil := ctx context string int error for range " +
	"package import var const type struct interface map slice append len fmt.Errorf cannot open read write " +
	"value name path config status update release version build fetch checkout backup health")

// text returns about size bytes of source-like lines.
func (g *synthRepo) text(size int) []byte {
	var b bytes.Buffer
	for b.Len() < size {
		b.WriteString(g.line())
	}
	return b.Bytes()
}

func (g *synthRepo) line() string {
	n := 3 + g.rng.IntN(8)
	w := make([]string, n)
	for i := range w {
		w[i] = benchWords[g.rng.IntN(len(benchWords))]
	}
	return "\t" + strings.Join(w, " ") + fmt.Sprintf(" // %d\n", g.rng.IntN(100000))
}

// edit replaces one line and inserts another, the size of a typical
// change to a file.
func (g *synthRepo) edit(old []byte) []byte {
	lines := strings.SplitAfter(string(old), "\n")
	if len(lines) > 1 {
		lines[g.rng.IntN(len(lines)-1)] = g.line()
	}
	at := g.rng.IntN(len(lines))
	lines = append(lines[:at], append([]string{g.line()}, lines[at:]...)...)
	return []byte(strings.Join(lines, ""))
}

func (g *synthRepo) fastImport(ctx context.Context, stream io.Reader) error {
	cmd := exec.CommandContext(ctx, "git", "fast-import", "--quiet", "--done")
	cmd.Dir = g.dir
	// glibc's malloc gives memory back and asks for it again millions of
	// times while fast-import builds big trees (a minute in brk(2) for
	// the fetch bench's repository); padding the heap makes it 2 s.
	cmd.Env = append(toolGitEnv(), "MALLOC_TOP_PAD_=268435456", "MALLOC_TRIM_THRESHOLD_=1073741824")
	cmd.Stdin = io.MultiReader(stream, strings.NewReader("done\n"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("cannot run git fast-import in %s: %w: %s", g.dir, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// toolGitEnv is the environment the raw git commands run with: the
// caller's, without its GIT_ variables and its global and system git
// configuration, so a developer's settings do not change the figures.
func toolGitEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	return append(env, "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Bench", "GIT_AUTHOR_EMAIL=bench@example.invalid",
		"GIT_COMMITTER_NAME=Bench", "GIT_COMMITTER_EMAIL=bench@example.invalid")
}

// toolGit runs git with args in dir ("" for the current folder).
func toolGit(ctx context.Context, dir string, args ...string) error {
	_, err := toolGitOutput(ctx, dir, args...)
	return err
}

// toolGitOutput runs git with args in dir and returns its trimmed output.
func toolGitOutput(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = toolGitEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("cannot run git %s in %s: %w: %s", strings.Join(args, " "), dir, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// runTool runs argv in dir with env (nil: the caller's) and returns how
// long it took; its output is kept for the error only.
func runTool(ctx context.Context, dir string, env []string, argv ...string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	began := time.Now()
	err := cmd.Run()
	took := time.Since(began)
	if err != nil {
		return 0, fmt.Errorf("cannot run %s in %s: %w: %s", strings.Join(argv, " "), dir, err, lastLines(out.String(), 10))
	}
	return took, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// copyTree copies src to dst with cp -a (dst must not exist).
func copyTree(ctx context.Context, src, dst string) error {
	_, err := runTool(ctx, "", nil, "cp", "-a", src, dst)
	return err
}

// settleDisk writes dirty pages back, untimed, so the next measurement
// does not pay for the previous one's write-back.
func settleDisk() {
	_ = exec.Command("sync").Run()
}

// dirSize is the total size of the regular files below dir.
func dirSize(dir string) (int64, error) {
	var total int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			total += fi.Size()
		}
		return nil
	})
	return total, err
}
