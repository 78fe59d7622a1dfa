package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"time"

	"github.com/better-paas/updater/internal/apitoken"
)

// Daemon is a better-paas-updater process a test or the demo started
// (usually `run`), its output appended to a log file.
type Daemon struct {
	// LogPath is the file the daemon's stdout and stderr go to.
	LogPath string

	cmd    *exec.Cmd
	log    *os.File
	exited chan struct{}

	stopOnce sync.Once
	stopErr  error
}

// StartDaemon starts bin with args and the environment env (nil: the
// caller's), its output in logPath, which is created.
func StartDaemon(bin, logPath string, env []string, args ...string) (*Daemon, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("cannot start %s: %w", bin, err)
	}
	d := &Daemon{LogPath: logPath, cmd: cmd, log: log, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(d.exited)
	}()
	return d, nil
}

// PID is the daemon's process id.
func (d *Daemon) PID() int { return d.cmd.Process.Pid }

// Exited is closed once the daemon has exited.
func (d *Daemon) Exited() <-chan struct{} { return d.exited }

// Alive returns an error once the daemon has exited.
func (d *Daemon) Alive() error {
	select {
	case <-d.exited:
		return fmt.Errorf("the daemon exited (%s; its log is %s)", d.cmd.ProcessState, d.LogPath)
	default:
		return nil
	}
}

// Stop sends SIGTERM, as `systemctl stop` does, and waits up to grace for
// the daemon to exit; one still running then is killed, and Stop says so.
// Only the first call acts; later ones return its result.
func (d *Daemon) Stop(grace time.Duration) error {
	d.stopOnce.Do(func() {
		defer d.log.Close()
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(grace):
			_ = d.cmd.Process.Kill()
			<-d.exited
			d.stopErr = fmt.Errorf("the daemon did not stop within %s of SIGTERM; killed it (log %s)", grace, d.LogPath)
		}
	})
	return d.stopErr
}

// tokenPattern matches a token as `token create` prints it.
var tokenPattern = regexp.MustCompile(regexp.QuoteMeta(apitoken.Prefix) + `[A-Za-z0-9_-]+`)

// CreateToken runs `bin token create` (or rotate, when rotate is true)
// for the config at cfgPath and returns the token it printed.
func CreateToken(bin, cfgPath string, rotate bool) (string, error) {
	verb := "create"
	if rotate {
		verb = "rotate"
	}
	out, err := exec.Command(bin, "token", verb, "--config", cfgPath).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("token %s: %w\n%s", verb, err, out)
	}
	token := tokenPattern.FindString(string(out))
	if token == "" {
		return "", errors.New("token " + verb + " printed no token:\n" + string(out))
	}
	return token, nil
}
