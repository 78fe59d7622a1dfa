package gitrepo

import (
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
)

// What an object names never changes: a commit's tree, a tag's target.
// These memos keep the few answers an update asks again and again (the
// update check reads HEAD's tree and the target's, the checkout step reads
// them once more, and the next update reads them again), so each is read
// from the object store once per process. Entries are content-addressed,
// so a repacked store cannot make them wrong; a tree is answered from the
// memo only while the store still has its commit (a checkout must never
// move HEAD to a commit that was pruned).

// maxMemoTreePaths bounds the trees the memo keeps: a tree of more paths
// is read each time, so what an idle daemon holds stays small (about a
// hundred bytes a path).
const maxMemoTreePaths = 4096

// treeMemo keeps the flattened trees of the last two commits read (HEAD's
// and the target's). The maps are shared: read them only.
var treeMemo struct {
	sync.Mutex
	slots [2]memoTree
	next  int
}

type memoTree struct {
	commit plumbing.Hash
	states map[string]state
}

// commitStates returns the flattened tree of commit h (flattenTree of its
// tree). The map may be shared: read it only.
func (r *Repo) commitStates(h plumbing.Hash) (map[string]state, error) {
	if states := r.memoized(h); states != nil {
		return states, nil
	}
	tree, err := r.commitTree(h)
	if err != nil {
		return nil, err
	}
	states, err := flattenTree(tree)
	if err != nil {
		return nil, err
	}
	rememberStates(h, states)
	return states, nil
}

// rememberStates keeps states as the flattened tree of commit h, unless
// it is larger than maxMemoTreePaths. Nothing may change states after.
func rememberStates(h plumbing.Hash, states map[string]state) {
	if len(states) > maxMemoTreePaths {
		return
	}
	treeMemo.Lock()
	defer treeMemo.Unlock()
	treeMemo.slots[treeMemo.next] = memoTree{commit: h, states: states}
	treeMemo.next = (treeMemo.next + 1) % len(treeMemo.slots)
}

// maxMemoPeeled bounds the peeled tags kept; the memo starts over when
// full.
const maxMemoPeeled = 256

// peelMemo maps tag objects (and commits, which peel to themselves) to
// the object they finally name.
var peelMemo struct {
	sync.Mutex
	m map[plumbing.Hash]plumbing.Hash
}

// peeled returns what peel(h) returned before, if it did.
func peeled(h plumbing.Hash) (plumbing.Hash, bool) {
	peelMemo.Lock()
	defer peelMemo.Unlock()
	p, ok := peelMemo.m[h]
	return p, ok
}

// rememberPeeled keeps peel(h) == p.
func rememberPeeled(h, p plumbing.Hash) {
	peelMemo.Lock()
	defer peelMemo.Unlock()
	if peelMemo.m == nil || len(peelMemo.m) >= maxMemoPeeled {
		peelMemo.m = map[plumbing.Hash]plumbing.Hash{}
	}
	peelMemo.m[h] = p
}

// memoized returns the memo's flattened tree of commit h, nil when it has
// none or the object store no longer has the commit.
func (r *Repo) memoized(h plumbing.Hash) map[string]state {
	if states := memoStates(h); states != nil && r.hasObject(h) == nil {
		return states
	}
	return nil
}

// memoStates returns the memo's flattened tree of commit h, nil when it
// has none.
func memoStates(h plumbing.Hash) map[string]state {
	treeMemo.Lock()
	defer treeMemo.Unlock()
	for _, s := range treeMemo.slots {
		if s.states != nil && s.commit == h {
			return s.states
		}
	}
	return nil
}
