package gitrepo

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// largeRepo builds, with git fast-import, a bare repository of files
// source-like files in 400 folders and three tags: v1 (the import), v2
// (every 20th file rewritten, 50 removed, 50 added) and v3 (every file
// rewritten), then returns it with the three commit hashes. It is the
// shape of scripts/bench's checkout measure, small enough to profile.
func largeRepo(tb testing.TB, root string, files int) (origin string, commits map[string]string) {
	tb.Helper()
	origin = filepath.Join(root, "origin.git")
	git(tb, root, "init", "-q", "--bare", origin)
	var s bytes.Buffer
	mark := 0
	commit := func(msg string, body func()) {
		mark++
		fmt.Fprintf(&s, "commit refs/heads/main\nmark :%d\ncommitter Fixture <fixture@example.invalid> %d +0000\ndata %d\n%s\n", mark, 1700000000+mark, len(msg), msg)
		if mark > 1 {
			fmt.Fprintf(&s, "from :%d\n", mark-1)
		}
		body()
	}
	put := func(p, content string) {
		fmt.Fprintf(&s, "M 100644 inline %s\ndata %d\n%s\n", p, len(content), content)
	}
	name := func(i int) string { return fmt.Sprintf("src/pkg%03d/mod%02d/file%05d.go", i%400, (i/400)%7, i) }
	text := func(i int, rev string) string {
		return fmt.Sprintf("package pkg // %d %s\n", i, rev) + strings.Repeat(fmt.Sprintf("// line of file %d\n", i), 40)
	}
	commit("v1", func() {
		for i := range files {
			put(name(i), text(i, "v1"))
		}
	})
	commit("v2", func() {
		for i := 0; i < files; i += 20 {
			put(name(i), text(i, "v2"))
		}
		for i := 1; i < 1000; i += 20 {
			fmt.Fprintf(&s, "D %s\n", name(i))
		}
		for i := files; i < files+50; i++ {
			put(name(i), text(i, "v2"))
		}
	})
	commit("v3", func() {
		for i := range files + 50 {
			if i < 1000 && i%20 == 1 {
				continue
			}
			put(name(i), text(i, "v3"))
		}
	})
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir = origin
	cmd.Env = gitEnv()
	cmd.Stdin = &s
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("git fast-import: %v\n%s", err, out)
	}
	git(tb, origin, "repack", "-a", "-d", "-q")
	commits = map[string]string{}
	for i, tag := range []string{"v1", "v2", "v3"} {
		commits[tag] = git(tb, origin, "rev-parse", fmt.Sprintf("main~%d", 2-i))
	}
	return origin, commits
}

// BenchmarkCheckoutLarge moves three clones of a 20,000-file repository
// between two commits, 5% or every file changed (the scripts/bench
// checkout rows), in the same iterations, order rotating, dirty pages
// written back before each: one with Checkout, one with Checkout with its
// syncs off (what durability costs: git checkout syncs nothing), one with
// `git checkout`. It reports the three times and the two ratios to git.
func BenchmarkCheckoutLarge(b *testing.B) {
	root := b.TempDir()
	origin, commits := largeRepo(b, root, 20000)
	for _, c := range []struct{ name, from, to string }{
		{"5pct", "v1", "v2"},
		{"all", "v2", "v3"},
	} {
		b.Run(c.name, func(b *testing.B) {
			// The testing package may call this function more than once
			// (a first round, then b.N): each call gets its own clones.
			clones := b.TempDir()
			var dirs [3]string
			for k, name := range []string{"sync", "nosync", "git"} {
				dirs[k] = filepath.Join(clones, name)
				git(b, root, "clone", "-q", "--no-checkout", origin, dirs[k])
				git(b, dirs[k], "checkout", "-q", "--detach", commits[c.from])
			}
			withSync, noSync := open(b, dirs[0]), open(b, dirs[1])
			noSync.syncOff = true
			targets := []string{commits[c.to], commits[c.from]}
			var took [3]time.Duration
			i := 0
			for b.Loop() {
				target := targets[i%2]
				run := [3]func(){
					func() {
						if err := withSync.Checkout(context.Background(), target); err != nil {
							b.Fatal(err)
						}
					},
					func() {
						if err := noSync.Checkout(context.Background(), target); err != nil {
							b.Fatal(err)
						}
					},
					func() { git(b, dirs[2], "checkout", "-q", "--detach", target) },
				}
				for k := range 3 {
					k = (k + i) % 3
					settle(b)
					began := time.Now()
					run[k]()
					took[k] += time.Since(began)
				}
				i++
			}
			b.ReportMetric(float64(took[0].Milliseconds())/float64(i), "ours-ms")
			b.ReportMetric(float64(took[1].Milliseconds())/float64(i), "nosync-ms")
			b.ReportMetric(float64(took[2].Milliseconds())/float64(i), "git-ms")
			b.ReportMetric(float64(took[0])/float64(took[2]), "ratio")
			b.ReportMetric(float64(took[1])/float64(took[2]), "ratio-nosync")
		})
	}
}

func settle(tb testing.TB) {
	tb.Helper()
	if err := exec.Command("sync").Run(); err != nil {
		tb.Fatal(err)
	}
}
