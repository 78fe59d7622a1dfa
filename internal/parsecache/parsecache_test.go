package parsecache

import (
	"fmt"
	"testing"
)

type doc struct {
	Version string            `json:"version"`
	Tags    map[string]string `json:"tags,omitempty"`
}

// TestCacheAnswersOnlyForTheBytesItParsed: a hit needs the same path and
// the same bytes, returns a copy of its own, and the cache forgets past
// MaxFiles instead of growing.
func TestCacheAnswersOnlyForTheBytesItParsed(t *testing.T) {
	var c Cache[doc]
	data := []byte("version: v1.0.0\n")
	if c.Get("/a/status.yaml", data) != nil {
		t.Fatal("an empty cache answered")
	}
	c.Remember("/a/status.yaml", data, &doc{Version: "v1.0.0", Tags: map[string]string{"v1.0.0": "abc"}})
	got := c.Get("/a/./status.yaml", data)
	if got == nil || got.Version != "v1.0.0" || got.Tags["v1.0.0"] != "abc" {
		t.Fatalf("Get = %+v", got)
	}
	got.Tags["v1.0.0"] = "changed"
	if again := c.Get("/a/status.yaml", data); again.Tags["v1.0.0"] != "abc" {
		t.Errorf("a caller's change reached the cache: %+v", again)
	}
	if c.Get("/a/status.yaml", []byte("version: v1.1.0\n")) != nil {
		t.Error("answered for other bytes")
	}
	if c.Get("/b/status.yaml", data) != nil {
		t.Error("answered for another path")
	}
	j := []byte(`{"version":"v1.0.0","tags":{"v1.0.0":"abc"}}`)
	if !c.Holds("/a/status.yaml", data, j) {
		t.Error("Holds is false for the bytes and value remembered")
	}
	if c.Holds("/a/status.yaml", data, []byte(`{"version":"v1.1.0"}`)) {
		t.Error("Holds is true for another value")
	}
	for i := range 2 * MaxFiles {
		c.Remember(fmt.Sprintf("/f%d/status.yaml", i), data, &doc{Version: "v1.0.0"})
	}
	if n := len(c.files); n > MaxFiles {
		t.Errorf("remembers %d files, at most %d", n, MaxFiles)
	}
	if c.Get(fmt.Sprintf("/f%d/status.yaml", 2*MaxFiles-1), data) == nil {
		t.Error("the file remembered last was forgotten")
	}
}
