package preflight

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestUntrackedData(t *testing.T) {
	lister := func(files ...string) func(string) ([]string, error) {
		return func(dir string) ([]string, error) {
			if dir != "var/data" {
				return nil, fmt.Errorf("asked for %q", dir)
			}
			return files, nil
		}
	}
	if err := UntrackedData("/opt/app", "/opt/app/var/data", "v1.2.0", lister()); err != nil {
		t.Errorf("nothing tracked: %v", err)
	}
	err := UntrackedData("/opt/app", "/opt/app/var/data", "v1.2.0", lister("var/data/a", "var/data/b", "var/data/c", "var/data/d", "var/data/e", "var/data/f", "var/data/g"))
	if !errors.Is(err, ErrDataTracked) {
		t.Fatalf("err = %v, want ErrDataTracked", err)
	}
	for _, want := range []string{"dataDir /opt/app/var/data", "v1.2.0 tracks var/data/a, var/data/b, var/data/c, var/data/d, var/data/e and 2 more", "git rm -r --cached var/data", ".gitignore"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	boom := errors.New("corrupt index")
	err = UntrackedData("/opt/app", "/opt/app/var/data", "HEAD", func(string) ([]string, error) { return nil, boom })
	if !errors.Is(err, boom) || errors.Is(err, ErrDataTracked) {
		t.Errorf("lister failure: %v", err)
	}
	if err := UntrackedData("/opt/app", "/srv/data", "HEAD", lister()); err == nil || errors.Is(err, ErrDataTracked) {
		t.Errorf("data outside the install: %v", err)
	}
}

func TestUntrackedPaths(t *testing.T) {
	tracked := map[string][]string{
		"migrations":      {"migrations/0001_init.sql"},
		"backend/main.go": {"backend/main.go"},
	}
	var asked []string
	lister := func(dir string) ([]string, error) {
		asked = append(asked, dir)
		return tracked[dir], nil
	}
	if err := UntrackedPaths([]string{".env", "var/generated"}, "v1.2.0", lister); err != nil {
		t.Errorf("nothing tracked: %v", err)
	}
	if strings.Join(asked, " ") != ".env var/generated" {
		t.Errorf("asked for %q, want each path as written", asked)
	}
	err := UntrackedPaths([]string{".env", "migrations", "backend/main.go"}, "v1.3.0", lister)
	if !errors.Is(err, ErrDataTracked) {
		t.Fatalf("err = %v, want ErrDataTracked", err)
	}
	for _, want := range []string{"backup.paths", "v1.3.0 tracks migrations/0001_init.sql", "backend/main.go", "git rm -r --cached migrations", ".gitignore", "remove it from backup.paths"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	boom := errors.New("corrupt index")
	err = UntrackedPaths([]string{".env"}, "HEAD", func(string) ([]string, error) { return nil, boom })
	if !errors.Is(err, boom) || errors.Is(err, ErrDataTracked) {
		t.Errorf("lister failure: %v", err)
	}
}
