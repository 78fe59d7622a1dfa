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
