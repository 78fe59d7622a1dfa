// Package parsecache remembers, for the few files a process reads over and
// over (status.yaml at every reconcile, page view and metrics scrape;
// desired.yaml at every reconcile), the bytes it last parsed and the value
// they parsed to, kept as JSON. Parsing those files strictly costs
// milliseconds (two YAML decoders, the alias bound, the field-case check:
// internal/strictyaml); decoding the remembered JSON costs microseconds.
//
// The value decoded is the one the parser would return when the parse is a
// function of the bytes alone and the type survives a JSON round trip:
// sigs.k8s.io/yaml decodes YAML by converting it to JSON and handing it to
// encoding/json, so a value that came from a document encodes to JSON that
// decodes to the same value. Each user checks that in its fuzz test for
// every document its parser accepts.
package parsecache

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"sync"
)

// MaxFiles bounds how many files a Cache remembers: a daemon reads one
// status.yaml and one desired.yaml, tests read many.
const MaxFiles = 8

// Cache remembers parsed files of type T. The zero value is ready to use;
// it is safe for concurrent use.
type Cache[T any] struct {
	mu    sync.Mutex
	files map[string]file
}

type file struct {
	data []byte // the file's bytes
	json []byte // the value they parse to, encoded as JSON
}

// Get returns a fresh copy of the value data parse to when data are the
// bytes remembered for path, and nil otherwise.
func (c *Cache[T]) Get(path string, data []byte) *T {
	c.mu.Lock()
	f, ok := c.files[filepath.Clean(path)]
	c.mu.Unlock()
	if !ok || !bytes.Equal(f.data, data) {
		return nil
	}
	v := new(T)
	if json.Unmarshal(f.json, v) != nil {
		return nil
	}
	return v
}

// Parse returns what parse returns for data, the bytes of the file at
// path: the remembered value when data are the bytes remembered for path,
// else parse's answer, remembered when it is not an error.
func (c *Cache[T]) Parse(path string, data []byte, parse func(name string, data []byte) (*T, error)) (*T, error) {
	if v := c.Get(path, data); v != nil {
		return v, nil
	}
	v, err := parse(path, data)
	if err != nil {
		return nil, err
	}
	c.Remember(path, data, v)
	return v, nil
}

// Holds reports whether path is remembered as holding exactly data, which
// parse to the value encoded as j: then writing that value would write the
// bytes the file already has.
func (c *Cache[T]) Holds(path string, data, j []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.files[filepath.Clean(path)]
	return ok && bytes.Equal(f.data, data) && bytes.Equal(f.json, j)
}

// Remember records that path holds data, which parse to v.
func (c *Cache[T]) Remember(path string, data []byte, v *T) {
	if j, err := json.Marshal(v); err == nil {
		c.RememberJSON(path, data, j)
	}
}

// RememberJSON records that path holds data, which parse to the value
// encoded as j. The slices are kept: callers must not change them.
func (c *Cache[T]) RememberJSON(path string, data, j []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	path = filepath.Clean(path)
	if c.files == nil {
		c.files = map[string]file{}
	}
	if _, ok := c.files[path]; !ok && len(c.files) >= MaxFiles {
		for p := range c.files { // forget any one: a miss costs one parse
			delete(c.files, p)
			break
		}
	}
	c.files[path] = file{data: data, json: j}
}
