package apitoken

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestCreateStoresOnlyTheHash: the token has its prefix and 256 bits, the
// file has mode 0600 and does not contain the token, and a second create
// refuses, naming rotate, with the file unchanged.
func TestCreateStoresOnlyTheHash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api-token")
	token, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, Prefix) || len(token) != len(Prefix)+43 {
		t.Errorf("token %q: want %s and 43 base64url characters", token, Prefix)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v, want mode 0600", fi, err)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), strings.TrimPrefix(token, Prefix)) {
		t.Errorf("the token file holds the token:\n%s", data)
	}
	if !strings.Contains(string(data), "kind: APIToken") {
		t.Errorf("the token file has no kind:\n%s", data)
	}
	_, err = Create(path)
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "token rotate") {
		t.Errorf("second Create = %v, want ErrExists naming token rotate", err)
	}
	if again, _ := os.ReadFile(path); string(again) != string(data) {
		t.Error("a refused Create changed the file")
	}
	if err := NewVerifier(path).Verify(token); err != nil {
		t.Errorf("Verify(created token) = %v", err)
	}
}

// TestTokensDiffer: two tokens are never the same.
func TestTokensDiffer(t *testing.T) {
	dir := t.TempDir()
	a, err := Create(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Rotate(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("rotate gave the same token")
	}
}

// TestVerifierNoticesRotation: a running Verifier refuses the old token
// and accepts the new one right after Rotate, without being recreated.
func TestVerifierNoticesRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api-token")
	v := NewVerifier(path)
	if err := v.Verify("bput_anything"); !errors.Is(err, ErrNoToken) {
		t.Errorf("Verify without a token file = %v, want ErrNoToken", err)
	}
	old, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(old); err != nil {
		t.Fatalf("Verify(old) = %v", err)
	}
	for _, wrong := range []string{"", "bput_", old[:len(old)-1], old + "x", strings.ToUpper(old)} {
		if err := v.Verify(wrong); !errors.Is(err, ErrMismatch) {
			t.Errorf("Verify(%q) = %v, want ErrMismatch", wrong, err)
		}
	}
	for range 3 { // several rotations within one second
		next, err := Rotate(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Verify(old); !errors.Is(err, ErrMismatch) {
			t.Errorf("Verify(rotated-out token) = %v, want ErrMismatch", err)
		}
		if err := v.Verify(next); err != nil {
			t.Errorf("Verify(new token) = %v", err)
		}
		old = next
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(old); !errors.Is(err, ErrNoToken) {
		t.Errorf("Verify after the file was removed = %v, want ErrNoToken", err)
	}
}

// TestVerifierRefusesEverythingWithACorruptFile: an unreadable file
// refuses every token, and says how to fix it.
func TestVerifierRefusesEverythingWithACorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api-token")
	token, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, content := range []string{"", "garbage: [", "apiVersion: updates.better-paas.io/v1\nkind: APIToken\nsha256: abc\n"} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		err := NewVerifier(path).Verify(token)
		if err == nil || errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "token rotate") {
			t.Errorf("%q: Verify = %v, want an error naming token rotate", content, err)
		}
	}
}

// TestVerifierIsSafeForConcurrentUse: run with -race.
func TestVerifierIsSafeForConcurrentUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api-token")
	token, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(path)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				_ = v.Verify(token)
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			if _, err := Rotate(path); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
}
