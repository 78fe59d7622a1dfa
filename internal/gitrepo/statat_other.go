//go:build !unix

package gitrepo

import "github.com/go-git/go-git/v5/plumbing/format/index"

// openRoot has no descriptor to give off Unix: every file is looked at by
// path (worktreeState).
func openRoot(string) int { return -1 }

func closeRoot(int) {}

func (s *snapshot) statMatchesAt(int, *index.Entry) bool { return false }
