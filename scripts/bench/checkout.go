package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/better-paas/updater/internal/gitrepo"
)

// The checkout bench: internal/gitrepo's Checkout (the updater's checkout
// step: only changed paths written, each atomically, index through
// index.lock, HEAD last) against `git checkout --detach` of the same tag in
// an identical clone, on a 20,000-file tree.
func init() {
	register(Measure{Group: "Overhead", Name: "checkout of another tag, 20,000 files", Run: func(ctx context.Context, env *Env) ([]Result, error) {
		return runCheckout(ctx, env, 0)
	}})
	register(Measure{Group: "Overhead", Name: "checkout of another tag, 20,000 files, all changed", Run: func(ctx context.Context, env *Env) ([]Result, error) {
		return runCheckout(ctx, env, 1)
	}})
}

// checkoutRepo is the 20,000-file tree.
var checkoutRepo = synthSpec{Files: 20000, Dirs: 400, FileSize: 800, Commits: 20, Touch: 5}

// checkoutCase is one pair of tags the checkout moves between.
type checkoutCase struct {
	name     string
	every    int // the release rewrites every nth file
	del, add int // and removes and adds this many
	from, to string
}

// runCheckout measures cases[which] (the repository holds both).
func runCheckout(ctx context.Context, env *Env, which int) ([]Result, error) {
	dir := filepath.Join(env.WorkDir, fmt.Sprintf("checkout-%d", which))
	origin := filepath.Join(dir, "origin.git")
	start := time.Now()
	g, err := newSynthRepo(ctx, origin, checkoutRepo)
	if err != nil {
		return nil, err
	}
	cases := []checkoutCase{
		{name: "5% of the files changed", every: 20, del: 50, add: 50, from: "v1.0.0", to: "v1.1.0"},
		{name: "every file changed", every: 1, del: 0, add: 0, from: "v1.1.0", to: "v2.0.0"},
	}
	if err := g.Tag(ctx, cases[0].from); err != nil {
		return nil, err
	}
	for _, c := range cases {
		if err := g.Change(ctx, c.every, c.del, c.add); err != nil {
			return nil, err
		}
		if err := g.Tag(ctx, c.to); err != nil {
			return nil, err
		}
	}
	if err := toolGit(ctx, origin, "repack", "-a", "-d", "-q"); err != nil {
		return nil, err
	}
	env.Log.Printf("checkout: repository of %d files generated in %s", checkoutRepo.Files, time.Since(start).Round(time.Millisecond))

	var rows []Result
	for ci, c := range cases[which : which+1] {
		// Two identical clones at c.from, each moved by gitrepo in some
		// runs and by git in the others (see below).
		clones := [2]string{filepath.Join(dir, fmt.Sprintf("a-%d", ci)), filepath.Join(dir, fmt.Sprintf("b-%d", ci))}
		for _, d := range clones {
			if err := toolGit(ctx, "", "clone", "--quiet", "--no-checkout", "--no-hardlinks", origin, d); err != nil {
				return nil, err
			}
			if err := toolGit(ctx, d, "checkout", "--quiet", "--detach", c.from); err != nil {
				return nil, err
			}
		}
		commits := map[string]string{}
		for _, tag := range []string{c.from, c.to} {
			h, err := toolGitOutput(ctx, origin, "rev-parse", tag+"^{commit}")
			if err != nil {
				return nil, err
			}
			commits[tag] = h
		}
		changed, err := toolGitOutput(ctx, origin, "diff", "--shortstat", c.from, c.to)
		if err != nil {
			return nil, err
		}
		var oursRuns, theirsRuns []float64
		// Each run moves both clones to the other tag: from -> to, to -> from, ...
		runs := env.Runs
		for i := range runs {
			tag := c.to
			if i%2 == 1 {
				tag = c.from
			}
			// Where a clone's inodes lie decides much of what creating
			// 20,000 files costs (on ext4 without a journal the allocator
			// tests every inode freed in the last minute, and each clone's
			// folders sit in block groups of their own): git checkout of
			// the same files took 1.9 s in one clone and 6.5 s in another.
			// The clones swap roles every two runs, so neither tool keeps
			// the luckier one. Both clones are at the same commit after
			// every run, and each tool reads the index the other wrote.
			ours, theirs := clones[(i/2)%2], clones[1-(i/2)%2]
			goGit := func() (time.Duration, error) {
				r, err := gitrepo.Open(ours)
				if err != nil {
					return 0, err
				}
				began := time.Now()
				if err := r.Checkout(ctx, commits[tag]); err != nil {
					return 0, err
				}
				took := time.Since(began)
				return took, checkHead(ctx, ours, commits[tag])
			}
			cli := func() (time.Duration, error) {
				took, err := runTool(ctx, theirs, toolGitEnv(), "git", "checkout", "--quiet", "--detach", tag)
				if err != nil {
					return 0, err
				}
				return took, checkHead(ctx, theirs, commits[tag])
			}
			settleDisk()
			o, t, err := alternate(i, goGit, cli)
			if err != nil {
				return nil, err
			}
			oursRuns, theirsRuns = append(oursRuns, durMs(o)), append(theirsRuns, durMs(t))
		}
		// Both work trees must hold the same files afterwards.
		for _, d := range clones {
			if out, err := toolGitOutput(ctx, d, "status", "--porcelain", "--untracked-files=no"); err != nil || out != "" {
				return nil, fmt.Errorf("checkout left %s unclean: %q %v", d, out, err)
			}
		}
		ratio := median(oursRuns) / median(theirsRuns)
		rows = append(rows, Result{
			Group:        "Overhead",
			Name:         fmt.Sprintf("checkout of another tag, 20,000 files, %s", c.name),
			Unit:         "ms",
			Runs:         oursRuns,
			Baseline:     "git checkout",
			BaselineRuns: theirsRuns,
			Target:       "<= 1x",
			Pass:         boolPtr(ratio <= 1),
			Note: fmt.Sprintf("gitrepo.Checkout (never forced; every changed file staged beside its path, renamed into place once a syncfs "+
				"made it durable, a syncfs per 2,048 staged files while the rest are staged, one for the renames; index via index.lock; HEAD last) vs `git checkout --quiet --detach <tag>` (no fsync), "+
				"in two clones of one repository (%d files in %d folders), alternating %s <-> %s (%s), order alternating, "+
				"the clones swapping tools every two runs, "+
				"dirty pages written back between measurements; %d runs.", checkoutRepo.Files, checkoutRepo.Dirs, c.from, c.to, changed, runs),
		})
	}
	return rows, nil
}

// checkHead checks that the checkout in dir is at commit.
func checkHead(ctx context.Context, dir, commit string) error {
	head, err := toolGitOutput(ctx, dir, "rev-parse", "HEAD")
	if err != nil {
		return err
	}
	if head != commit {
		return fmt.Errorf("%s is at %s after the checkout, want %s", dir, head, commit)
	}
	return nil
}
