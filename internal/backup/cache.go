package backup

import (
	"fmt"
	"path/filepath"
	"sync"

	"github.com/better-paas/updater/internal/backup/manifest"
	"github.com/better-paas/updater/internal/filedigest"
)

// The manifest cache keeps the last two whole manifests this process read
// or wrote, so that Finish, which runs while the service is stopped, does
// not spend its time decoding the manifest Create has just written, and
// Create does not decode its base twice. An entry is used only while the
// file has the same inode, size, mtime and ctime, so an edited or replaced
// manifest is read again. Cached manifests are shared: read them only.
var manifestCache struct {
	sync.Mutex
	slots [2]cachedManifest
	next  int
}

type cachedManifest struct {
	path string
	id   filedigest.ID
	m    *manifest.Manifest
}

// readManifestCached returns the whole manifest dir/name, from the cache
// when the file has not changed since it was cached.
func readManifestCached(dir, name string) (*manifest.Manifest, error) {
	path := filepath.Join(dir, name)
	id, err := filedigest.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read manifest %s: %w", path, err)
	}
	manifestCache.Lock()
	for _, s := range manifestCache.slots {
		if s.m != nil && s.path == path && s.id == id {
			manifestCache.Unlock()
			return s.m, nil
		}
	}
	manifestCache.Unlock()
	m, err := manifest.ReadFile(path)
	if err != nil {
		return nil, err
	}
	store(path, id, &m)
	return &m, nil
}

// remember caches m, just written to dir/MANIFEST.json.
func remember(dir string, m *manifest.Manifest) {
	path := filepath.Join(dir, manifest.FileName)
	if id, err := filedigest.Stat(path); err == nil {
		store(path, id, m)
	}
}

func store(path string, id filedigest.ID, m *manifest.Manifest) {
	manifestCache.Lock()
	defer manifestCache.Unlock()
	for i, s := range manifestCache.slots {
		if s.path == path {
			manifestCache.slots[i] = cachedManifest{path, id, m}
			return
		}
	}
	manifestCache.slots[manifestCache.next] = cachedManifest{path, id, m}
	manifestCache.next = (manifestCache.next + 1) % len(manifestCache.slots)
}

// forget drops the cached manifests of the backup folder dir.
func forget(dir string) {
	manifestCache.Lock()
	defer manifestCache.Unlock()
	for i, s := range manifestCache.slots {
		if filepath.Dir(s.path) == dir {
			manifestCache.slots[i] = cachedManifest{}
		}
	}
}

// The header cache keeps the manifest headers stateOf read, by path, under
// the manifest cache's rule: an entry is used only while the file has the
// same inode, size, mtime and ctime. Every update lists the backups (its
// preflight estimates the backup against the newest one), and a listing
// reads every backup's header; with the cache, a backup already read costs
// a stat. It is emptied when it holds maxCachedHeaders, so the headers of
// removed backups do not pile up. Cached headers are shared: read them only.
var headerCache struct {
	sync.Mutex
	m map[string]cachedManifest
}

const maxCachedHeaders = 256

// readHeaderCached is manifest.ReadHeader, from the cache when the file
// has not changed since it was read.
func readHeaderCached(path string) (*manifest.Manifest, error) {
	id, err := filedigest.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read manifest %s: %w", path, err)
	}
	headerCache.Lock()
	c, ok := headerCache.m[path]
	headerCache.Unlock()
	if ok && c.id == id {
		return c.m, nil
	}
	m, err := manifest.ReadHeader(path)
	if err != nil {
		return nil, err
	}
	headerCache.Lock()
	defer headerCache.Unlock()
	if headerCache.m == nil || len(headerCache.m) >= maxCachedHeaders {
		headerCache.m = map[string]cachedManifest{}
	}
	headerCache.m[path] = cachedManifest{path: path, id: id, m: m}
	return m, nil
}
