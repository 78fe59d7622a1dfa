package proc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// CheckDir reports a missing or unusable working folder clearly; "" (the
// daemon's own folder) is fine. Call it before starting a process with
// SysProcAttr set: os.StartProcess explains a missing folder itself only
// when SysProcAttr is nil; with Setpgid or Setsid it shows up as
// "fork/exec <program>: no such file or directory", which blames the
// program. Errors start "cannot use working folder" and wrap the fs error,
// or fs.ErrInvalid when dir is not a folder.
func CheckDir(dir string) error {
	if dir == "" {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cannot use working folder: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("cannot use working folder: %s is not a folder: %w", dir, fs.ErrInvalid)
	}
	return nil
}

// LookPath finds the program argv0 the way the project's commands are
// documented to: without a slash it is looked up in the daemon's PATH;
// with a slash and not absolute, it is relative to dir (not to the
// daemon's folder, unlike exec.LookPath). It returns an absolute path, so
// exec does not apply dir to a relative path a second time.
//
// The errors carry no prefix naming the program, because every caller
// already starts its message with it:
//   - not in PATH: exec.ErrNotFound ("executable file not found in
//     $PATH"), without exec's own `exec: "name":` prefix;
//   - missing file: the fs error from stat, wrapping fs.ErrNotExist;
//   - a folder: "<path> is a folder", wrapping fs.ErrInvalid;
//   - no execute bit: "<path> is not executable (chmod +x it)", wrapping
//     fs.ErrPermission.
func LookPath(argv0, dir string) (string, error) {
	if !strings.Contains(argv0, "/") {
		p, err := exec.LookPath(argv0)
		if err != nil {
			var ee *exec.Error
			if errors.As(err, &ee) {
				err = ee.Err // drop exec's own `exec: "name":` prefix
			}
			return "", err
		}
		return p, nil
	}
	p := argv0
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	p, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(p)
	switch {
	case err != nil:
		return "", err
	case fi.IsDir():
		return "", fmt.Errorf("%s is a folder: %w", p, fs.ErrInvalid)
	case fi.Mode()&0o111 == 0:
		return "", fmt.Errorf("%s is not executable (chmod +x it): %w", p, fs.ErrPermission)
	}
	return p, nil
}
