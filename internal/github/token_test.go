package github

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTokenFromEnv(t *testing.T) {
	t.Setenv("GITHUB_TOKEN", "  "+testToken+"\n")
	if got := TokenFromEnv(); got != testToken {
		t.Fatalf("TokenFromEnv = %q", got)
	}
	t.Setenv("GITHUB_TOKEN", "")
	if got := TokenFromEnv(); got != "" {
		t.Fatalf("TokenFromEnv = %q, want empty", got)
	}
}

func TestTokenFromFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got, err := TokenFromFile(write("ok", testToken+"\r\n"))
	if err != nil || got != testToken {
		t.Fatalf("TokenFromFile = %q, %v", got, err)
	}
	tests := []struct {
		name string
		path string
		want error
	}{
		{"missing", filepath.Join(dir, "missing"), fs.ErrNotExist},
		{"empty", write("empty", " \n"), ErrInvalidToken},
		{"space inside", write("space", "ghp_abc "+testToken+"\n"), ErrInvalidToken},
		{"too big", write("big", strings.Repeat("a", 20000)), ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := TokenFromFile(tt.path)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Fatalf("error quotes the file: %v", err)
			}
		})
	}
}
