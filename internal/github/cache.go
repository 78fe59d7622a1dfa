package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/better-paas/updater/internal/apiversion"
	"github.com/better-paas/updater/internal/atomicfile"
	"github.com/better-paas/updater/internal/releases"
)

const (
	// CacheAPIVersion and CacheKind identify the cache file's format.
	CacheAPIVersion = apiversion.V1
	CacheKind       = "ReleaseCache"

	// maxCacheBytes bounds how much of a cache file is read; a bigger one
	// is ignored as corrupt.
	maxCacheBytes = 64 << 20
)

// cacheFile is the persisted form of cacheState. It holds no token: the
// repository identity is the API base URL, owner, name and prerelease
// flag, and a file written for another identity is ignored.
type cacheFile struct {
	APIVersion string          `json:"apiVersion"`
	Kind       string          `json:"kind"`
	Repository cacheRepository `json:"repository"`
	ETag       string          `json:"etag,omitempty"`
	FetchedAt  time.Time       `json:"fetchedAt,omitzero"`
	// RateLimitedUntil is when a request may be sent again; absent when
	// not rate-limited.
	RateLimitedUntil time.Time `json:"rateLimitedUntil,omitzero"`
	// Details is true in files that keep each release's name, URL and
	// notes. A file of an older updater lacks them, so its ETag is not
	// used: a 304 would keep the listing without notes for good.
	Details  bool           `json:"details,omitempty"`
	Releases []cacheRelease `json:"releases"`
}

type cacheRepository struct {
	BaseURL    string `json:"baseURL"`
	Owner      string `json:"owner"`
	Name       string `json:"name"`
	Prerelease bool   `json:"prerelease"`
}

type cacheRelease struct {
	Version     string       `json:"version"`
	Tag         string       `json:"tag"`
	Prerelease  bool         `json:"prerelease,omitempty"`
	PublishedAt time.Time    `json:"publishedAt,omitzero"`
	Assets      []cacheAsset `json:"assets,omitempty"`
	Name        string       `json:"name,omitempty"`
	URL         string       `json:"url,omitempty"`
	Notes       string       `json:"notes,omitempty"`
}

type cacheAsset struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Digest string `json:"digest,omitempty"`
	URL    string `json:"url"`
}

// errCacheUnusable explains why a cache file is ignored.
var errCacheUnusable = errors.New("release cache is unusable")

func (c *Client) identity() cacheRepository {
	return cacheRepository{BaseURL: redactURL(c.baseURL()), Owner: c.Owner, Name: c.Name, Prerelease: c.Prerelease}
}

// syncFromFile merges the cache file into memory: a newer listing (written
// by a previous run, or by another process such as the CLI sharing the
// state folder) replaces the one in memory, and a later rate-limit reset
// is adopted. A missing, corrupt or foreign file is ignored; the next
// success overwrites it.
func (c *Client) syncFromFile(ctx context.Context) {
	if c.CacheFile == "" {
		return
	}
	f, err := c.loadCache()
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			logger(ctx).Info("Ignoring release cache", "cacheFile", c.CacheFile, "reason", err.Error())
		}
		return
	}
	st := &c.state
	if f.FetchedAt.After(st.FetchedAt) {
		st.ETag = f.ETag
		if !f.Details {
			st.ETag = ""
		}
		st.FetchedAt = f.FetchedAt
		st.Releases = make([]releases.Release, 0, len(f.Releases))
		for _, r := range f.Releases {
			rel := releases.Release{Version: r.Version, Tag: r.Tag, Prerelease: r.Prerelease, PublishedAt: r.PublishedAt,
				Name: r.Name, URL: safeReleaseURL(r.URL), Notes: releases.CapNotes(r.Notes)}
			for _, a := range r.Assets {
				rel.Assets = append(rel.Assets, releases.Asset(a))
			}
			st.Releases = append(st.Releases, rel)
		}
		releases.Sort(st.Releases)
	}
	if f.RateLimitedUntil.After(st.NotBefore) {
		st.NotBefore = f.RateLimitedUntil
	}
}

func (c *Client) loadCache() (cacheFile, error) {
	fh, err := os.Open(c.CacheFile)
	if err != nil {
		return cacheFile{}, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxCacheBytes+1))
	if err != nil {
		return cacheFile{}, fmt.Errorf("cannot read %s: %w", c.CacheFile, err)
	}
	if len(data) > maxCacheBytes {
		return cacheFile{}, fmt.Errorf("%w: %s is larger than %d bytes", errCacheUnusable, c.CacheFile, maxCacheBytes)
	}
	var f cacheFile
	if err := json.Unmarshal(data, &f); err != nil {
		return cacheFile{}, fmt.Errorf("%w: cannot decode %s: %w", errCacheUnusable, c.CacheFile, err)
	}
	if f.APIVersion != CacheAPIVersion || f.Kind != CacheKind {
		return cacheFile{}, fmt.Errorf("%w: %s has apiVersion %q and kind %q, want %q and %q",
			errCacheUnusable, c.CacheFile, f.APIVersion, f.Kind, CacheAPIVersion, CacheKind)
	}
	if f.Repository != c.identity() {
		return cacheFile{}, fmt.Errorf("%w: %s is for %s/%s on %s (prerelease %t), not this repository",
			errCacheUnusable, c.CacheFile, f.Repository.Owner, f.Repository.Name, f.Repository.BaseURL, f.Repository.Prerelease)
	}
	for _, r := range f.Releases {
		if !releases.IsReleaseTag(r.Version) || r.Tag == "" {
			return cacheFile{}, fmt.Errorf("%w: %s lists a release with version %q and tag %q", errCacheUnusable, c.CacheFile, r.Version, r.Tag)
		}
	}
	return f, nil
}

// persist writes the state atomically (nothing with ReadOnlyCache). A
// failure is logged, not returned: the answer in hand is still right, and
// the cache is only an optimisation (the next call retries the write).
func (c *Client) persist(ctx context.Context) {
	if c.CacheFile == "" || c.ReadOnlyCache {
		return
	}
	st := &c.state
	f := cacheFile{
		APIVersion:       CacheAPIVersion,
		Kind:             CacheKind,
		Repository:       c.identity(),
		ETag:             st.ETag,
		FetchedAt:        st.FetchedAt.UTC().Round(0),
		RateLimitedUntil: st.NotBefore.UTC().Round(0),
		Details:          true,
		Releases:         make([]cacheRelease, 0, len(st.Releases)),
	}
	for _, r := range st.Releases {
		cr := cacheRelease{Version: r.Version, Tag: r.Tag, Prerelease: r.Prerelease, PublishedAt: r.PublishedAt.UTC(),
			Name: r.Name, URL: r.URL, Notes: r.Notes}
		for _, a := range r.Assets {
			cr.Assets = append(cr.Assets, cacheAsset(a))
		}
		f.Releases = append(f.Releases, cr)
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err == nil {
		err = atomicfile.WriteFile(c.CacheFile, append(data, '\n'), 0o600)
	}
	if err != nil {
		logger(ctx).Error(err, "Cannot persist release cache", "cacheFile", c.CacheFile)
	}
}
