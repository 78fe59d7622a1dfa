package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/better-paas/updater/hooks"
)

// TestHooksSettings: hooks.maxRetries defaults to DefaultHookMaxRetries,
// keeps a value given, refuses one below 1 naming the field, and leaves
// the digest alone (hooks never blame a release); timeouts.hook defaults
// to the hook runner's own default, so the two cannot disagree.
func TestHooksSettings(t *testing.T) {
	c, err := Parse("/etc/bp/updater.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.Hooks.MaxRetries != DefaultHookMaxRetries || c.Timeouts.Hook.Duration != hooks.DefaultTimeout {
		t.Errorf("defaults: maxRetries %d, timeouts.hook %v; want %d and %v", c.Hooks.MaxRetries, c.Timeouts.Hook, DefaultHookMaxRetries, hooks.DefaultTimeout)
	}
	d, err := Parse("/etc/bp/updater.yaml", []byte(base+"hooks:\n  maxRetries: 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Hooks.MaxRetries != 3 {
		t.Errorf("maxRetries: 3 gave %d", d.Hooks.MaxRetries)
	}
	if d.Digest() != c.Digest() {
		t.Error("hooks.maxRetries changed the digest")
	}
	_, err = Parse("/etc/bp/updater.yaml", []byte(base+"hooks:\n  maxRetries: -1\n"))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "hooks.maxRetries") || !strings.Contains(err.Error(), "at least 1") {
		t.Errorf("maxRetries: -1: err = %v, want ErrInvalid naming hooks.maxRetries and the fix", err)
	}
}
