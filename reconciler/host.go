package reconciler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/go-logr/logr"

	"github.com/better-paas/updater/internal/atomicfile"
	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/fault"
	"github.com/better-paas/updater/internal/filedigest"
	"github.com/better-paas/updater/internal/gitrepo"
	"github.com/better-paas/updater/internal/health"
	"github.com/better-paas/updater/internal/service"
)

// Host is what the steps act on: the install described by the config, its
// git checkout and the service that runs it.
type Host struct {
	Config  *config.Config
	Repo    *gitrepo.Repo
	Service service.Manager
	// Events, if set, receives the lines builds print (see buildStep).
	Events Publisher
	// FindRelease finds the release an update installs, with its assets
	// (artifact: prebuilt; nil otherwise).
	FindRelease ReleaseFinder
}

// waitHealthy runs the health gate for version and, once it passes,
// records it (recordHealthy).
func (h *Host) waitHealthy(ctx context.Context, version string) error {
	if _, err := h.gate(version).Wait(ctx); err != nil {
		return err
	}
	recordHealthy(ctx, h.Service)
	return nil
}

// recordHealthy tells a service manager that remembers how each release
// last ran healthy (service.HealthRecorder: the exec supervisor with
// service.exec.listen starts a release the way it last passed, with or
// without the socket) that the backend running now is. A converged
// reconcile calls it too, so a release installed before that memory
// existed is started as it ran by a later rollback. Failing to record is
// logged, not returned: only that memory is lost.
func recordHealthy(ctx context.Context, svc service.Manager) {
	if r, ok := svc.(service.HealthRecorder); ok {
		if err := r.RecordHealthy(); err != nil {
			logr.FromContextOrDiscard(ctx).Error(err, "Cannot record how the backend ran healthy")
		}
	}
}

// gate returns the health gate that accepts version; a crashed service
// fails it at once instead of at the deadline.
func (h *Host) gate(version string) health.Gate {
	c := h.Config.Health
	g := health.Gate{
		URL:              c.URL,
		ExpectVersion:    version,
		ProbeTimeout:     c.ProbeTimeout.Duration,
		Interval:         c.Interval.Duration,
		Deadline:         c.Deadline.Duration,
		SuccessThreshold: c.SuccessThreshold,
		FailureThreshold: c.FailureThreshold,
		Alive: func(ctx context.Context) (bool, error) {
			// Called between probes: the point where a gate is half done.
			if err := fault.Inject(ctx, "mid"); err != nil {
				return false, err
			}
			st, err := h.Service.Status(ctx)
			return st.Running, err
		},
		// Called once the service is seen gone: its last log lines say why
		// ("bind: address already in use").
		ExitDetail: func() string { return service.ExitDetail(h.Service) },
	}
	// A systemd unit restarts a crashed backend itself (Restart=), so a
	// crash does not show as "not running": the manager watches for
	// restarts and for a main process that is not the new binary.
	if w, ok := h.Service.(service.GateWatcher); ok {
		alive, detail := w.WatchGate(h.Config.BackendBinary())
		g.Alive = func(ctx context.Context) (bool, error) {
			if err := fault.Inject(ctx, "mid"); err != nil {
				return false, err
			}
			return alive(ctx)
		}
		g.ExitDetail = detail
	}
	return g
}

// keepOutputs makes sure the previous version's live outputs can be put
// back whatever a build does to them: server.bak is the previous binary
// and, when its digest was recorded, frontend/dist.bak a copy of the
// previous frontend. It runs before every build and is idempotent: after a
// restart mid-build it keeps the copies it made, even if the build already
// replaced a live output. With nothing installed it does nothing.
//
// server.bak is a hard link of server: a builder replaces a file rather
// than writing into it (go build removes its -o target first, and the
// running binary cannot be opened for writing), so the link keeps the
// previous content. The frontend is copied: a build may rewrite files.
func (h *Host) keepOutputs(req *Request) error {
	prev := req.From
	if prev.BinarySHA256 == "" {
		return nil
	}
	bin := h.Config.BackendBinary()
	if err := keep(bin, prev.BinarySHA256, fileSHA256, linkReplace); err != nil {
		return fmt.Errorf("cannot keep the previous binary: %w", err)
	}
	if dir := h.Config.FrontendDir(); dir != "" && prev.FrontendSHA256 != "" {
		if err := keep(dir, prev.FrontendSHA256, treeSHA256, replaceTree); err != nil {
			return fmt.Errorf("cannot keep the previous frontend: %w", err)
		}
	}
	return nil
}

// keep makes live+".bak" a copy (made by save) of the output whose digest
// (by sum) is want, taken from live unless the backup already is one.
func keep(live, want string, sum func(string) (string, error), save func(src, dst string) error) error {
	bak := live + ".bak"
	if got, err := sum(bak); err != nil || got == want {
		return err
	}
	got, err := sum(live)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("neither %s nor %s has the digest %s it had when the update started", live, bak, want)
	}
	return save(live, bak)
}

// replaceTree makes dst a fresh copy of the folder src.
func replaceTree(src, dst string) error {
	if err := os.RemoveAll(dst); err != nil {
		return fmt.Errorf("cannot remove %s: %w", dst, err)
	}
	return copyTree(src, dst)
}

// restoreOutputs puts back, from the copies keepOutputs made, every live
// output that is no longer the previous version's, and returns the paths
// it put back. With nothing installed it does nothing.
func (h *Host) restoreOutputs(req *Request) ([]string, error) {
	prev := req.From
	if prev.BinarySHA256 == "" {
		return nil, nil
	}
	var restored []string
	bin := h.Config.BackendBinary()
	if got, err := fileSHA256(bin); err != nil {
		return nil, err
	} else if got != prev.BinarySHA256 {
		restored = append(restored, bin)
		if err := restoreBinary(bin, prev.BinarySHA256); err != nil {
			return restored, err
		}
	}
	dir := h.Config.FrontendDir()
	if dir == "" || prev.FrontendSHA256 == "" {
		return restored, nil
	}
	if got, err := treeSHA256(dir); err != nil {
		return restored, err
	} else if got != prev.FrontendSHA256 {
		restored = append(restored, dir)
		if err := restoreTree(dir, prev.FrontendSHA256); err != nil {
			return restored, err
		}
	}
	return restored, nil
}

// restoreTree puts dir+".bak", whose digest must be want, back as dir. A
// crash between its removal of dir and the rename leaves dir missing and
// the backup in place, from which a second call completes.
func restoreTree(dir, want string) error {
	bak := dir + ".bak"
	got, err := treeSHA256(bak)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("cannot restore %s: %s has digest %q, the previous frontend had %q", dir, bak, got, want)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("cannot remove %s: %w", dir, err)
	}
	return atomicfile.Rename(bak, dir)
}

// fileSHA256 returns the hex sha256 of path, "" when it does not exist.
func fileSHA256(path string) (string, error) { return filedigest.Sum(path) }

// frontendSHA256 returns the digest (treeSHA256) of the frontend build that
// c serves, "" when c builds no frontend or it does not exist.
func frontendSHA256(c *config.Config) (string, error) {
	if c.FrontendDir() == "" {
		return "", nil
	}
	return treeSHA256(c.FrontendDir())
}

// treeSHA256 returns a hex sha256 over the relative path, mode and content
// (a symlink's target) of everything beneath dir, in lexical order; "" when
// dir does not exist.
func treeSHA256(dir string) (string, error) {
	if ok, err := exists(dir); err != nil || !ok {
		return "", err
	}
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		content := ""
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			content, err = os.Readlink(p)
		case e.Type().IsRegular():
			content, err = fileSHA256(p)
		}
		fmt.Fprintf(h, "%q %v %q\n", rel, info.Mode(), content)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("cannot hash %s: %w", dir, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// copyTree copies the folder src to dst, which must not exist, with the
// modes of src; its files are synced. It copies regular files, folders and
// symlinks, and refuses anything else.
func copyTree(src, dst string) error {
	var dirs []string // their modes are set last, so a read-only one can be filled
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case e.IsDir():
			dirs = append(dirs, rel)
			return os.Mkdir(target, 0o700)
		case e.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case e.Type().IsRegular():
			return copyFile(p, target)
		}
		return fmt.Errorf("%s is not a regular file, folder or symlink", p)
	})
	for i := len(dirs) - 1; err == nil && i >= 0; i-- {
		var info fs.FileInfo
		if info, err = os.Lstat(filepath.Join(src, dirs[i])); err == nil {
			err = os.Chmod(filepath.Join(dst, dirs[i]), info.Mode()&^fs.ModeType)
		}
	}
	if err != nil {
		return fmt.Errorf("cannot copy %s to %s: %w", src, dst, err)
	}
	return nil
}

// copyFile copies the regular file src to the new file dst, mode included,
// and syncs it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Chmod(info.Mode() &^ fs.ModeType)
	}
	if err == nil {
		err = out.Sync()
	}
	return errors.Join(err, out.Close())
}

func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cannot stat %s: %w", path, err)
	}
	return true, nil
}
