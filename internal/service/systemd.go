package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// systemctlGrace is added to the stop timeout to bound one systemctl call:
// systemd applies the unit's own TimeoutStopSec=, the updater only makes
// sure a wedged systemctl cannot hold a step forever.
const systemctlGrace = 90 * time.Second

// restartSettle is how long a MainPID may run another binary than the
// install's before a gate fails: right after a fork, before the exec, the
// new process still is a copy of systemd.
const restartSettle = time.Second

// SystemdConfig configures a Systemd manager.
type SystemdConfig struct {
	// Unit is the unit that runs the backend, e.g. better-paas-backend.service.
	Unit string
	// StopTimeout plus a grace bounds each systemctl call.
	StopTimeout time.Duration
	// Systemctl is the program to run, default "systemctl" on PATH.
	Systemctl string
}

// Systemd is a Manager that drives a systemd unit through systemctl
// (`service.manager: systemd`). The unit file belongs to the
// administrator; Systemd only starts, stops and reads it. Restarting a
// crashed backend is systemd's work (Restart=), so Systemd has no Exits.
type Systemd struct {
	cfg SystemdConfig

	mu      sync.Mutex
	started bool // this value started the unit at least once
	// restarts is NRestarts right after the last Start, -1 when unknown:
	// the baseline of the next gate, so a crash between the start and the
	// gate's first look still counts.
	restarts int
}

// UnitState is what `systemctl show` says about the unit.
type UnitState struct {
	ActiveState string // active, activating, deactivating, inactive, failed, reloading
	SubState    string // running, auto-restart, dead, exited, ...
	Result      string // success, exit-code, signal, core-dump, ...
	NRestarts   int    // automatic restarts (Restart=) since the unit was last started by hand
	MainPID     int    // 0 when no main process runs
	// StartMonotonic is ExecMainStartTimestampMonotonic, in µs.
	StartMonotonic uint64
}

// Running reports whether the unit's main process runs: active or
// reloading, or activating other than waiting for an automatic restart.
func (u UnitState) Running() bool {
	switch u.ActiveState {
	case "active", "reloading", "deactivating":
		return u.MainPID != 0 || u.SubState != "exited"
	case "activating":
		return u.SubState != "auto-restart"
	}
	return false
}

// CrashLooping reports whether systemd found the main process dead and is
// about to start it again, or gave up on it.
func (u UnitState) CrashLooping() bool {
	return u.ActiveState == "failed" || u.SubState == "auto-restart"
}

func (u UnitState) String() string {
	return fmt.Sprintf("ActiveState=%s SubState=%s Result=%s NRestarts=%d MainPID=%d", u.ActiveState, u.SubState, u.Result, u.NRestarts, u.MainPID)
}

var _ Manager = (*Systemd)(nil)
var _ GateWatcher = (*Systemd)(nil)

// ErrAppExited is matched (errors.Is) by Start's error when systemctl
// start failed because the app's main process exited while starting (a
// Type=notify unit that crashed before READY=1): the version started is
// at fault, not the host.
var ErrAppExited = errors.New("the app exited while starting")

// NewSystemd returns a Manager for cfg.Unit. It checks nothing on the
// host: a missing unit or systemctl is reported by the first call.
func NewSystemd(cfg SystemdConfig) (*Systemd, error) {
	if cfg.Unit == "" || strings.HasPrefix(cfg.Unit, "-") {
		return nil, fmt.Errorf("cannot manage unit %q: not a unit name", cfg.Unit)
	}
	if cfg.Systemctl == "" {
		cfg.Systemctl = "systemctl"
	}
	return &Systemd{cfg: cfg, restarts: -1}, nil
}

// Unit returns the unit's name.
func (s *Systemd) Unit() string { return s.cfg.Unit }

// Start starts the unit (systemctl start, which does nothing for a unit
// that runs). A failed unit, or one that hit its start limit, is reset
// first, so a rollback after a crash loop can start the previous version.
func (s *Systemd) Start(ctx context.Context) error {
	_, _ = s.systemctl(ctx, "reset-failed", s.cfg.Unit) // fails harmlessly for a unit that is not failed
	if _, err := s.systemctl(ctx, "start", s.cfg.Unit); err != nil {
		if u, showErr := s.Show(ctx); showErr == nil && (u.CrashLooping() || u.Result != "" && u.Result != "success") {
			return fmt.Errorf("cannot start %s: %w: systemd reports %s: %w", s.cfg.Unit, ErrAppExited, u, err)
		}
		return fmt.Errorf("cannot start %s: %w", s.cfg.Unit, err)
	}
	restarts := -1
	if u, err := s.Show(ctx); err == nil {
		restarts = u.NRestarts
	}
	s.mu.Lock()
	s.started, s.restarts = true, restarts
	s.mu.Unlock()
	return nil
}

// Stop stops the unit and returns once systemd has (systemctl stop waits
// for the stop job); the unit's own TimeoutStopSec= applies.
func (s *Systemd) Stop(ctx context.Context) error {
	if _, err := s.systemctl(ctx, "stop", s.cfg.Unit); err != nil {
		return fmt.Errorf("cannot stop %s: %w", s.cfg.Unit, err)
	}
	return nil
}

// Status reports whether the unit's main process runs.
func (s *Systemd) Status(ctx context.Context) (State, error) {
	u, err := s.Show(ctx)
	if err != nil {
		return State{}, err
	}
	if !u.Running() {
		return State{}, nil
	}
	s.mu.Lock()
	adopted := !s.started
	s.mu.Unlock()
	return State{Running: true, PID: u.MainPID, Adopted: adopted}, nil
}

// Show reads the unit's state with systemctl show.
func (s *Systemd) Show(ctx context.Context) (UnitState, error) {
	out, err := s.systemctl(ctx, "show", "-p", "LoadState,ActiveState,SubState,NRestarts,MainPID,ExecMainStartTimestampMonotonic,Result", s.cfg.Unit)
	if err != nil {
		return UnitState{}, fmt.Errorf("cannot read the state of %s: %w", s.cfg.Unit, err)
	}
	return parseShow(s.cfg.Unit, out)
}

// parseShow parses systemctl show's NAME=value lines.
func parseShow(unit string, out []byte) (UnitState, error) {
	var u UnitState
	props := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			props[k] = v
		}
	}
	if ls := props["LoadState"]; ls != "" && ls != "loaded" {
		return u, fmt.Errorf("cannot read the state of %s: the unit is %s (LoadState=%s)", unit, strings.ReplaceAll(ls, "-", " "), ls)
	}
	u.ActiveState, u.SubState, u.Result = props["ActiveState"], props["SubState"], props["Result"]
	var err error
	num := func(name string, set func(uint64)) {
		v := props[name]
		if v == "" || err != nil {
			return
		}
		n, perr := strconv.ParseUint(v, 10, 64)
		if perr != nil {
			err = fmt.Errorf("cannot read the state of %s: %s=%q is not a number", unit, name, v)
			return
		}
		set(n)
	}
	num("NRestarts", func(n uint64) { u.NRestarts = int(n) })
	num("MainPID", func(n uint64) { u.MainPID = int(n) })
	num("ExecMainStartTimestampMonotonic", func(n uint64) { u.StartMonotonic = n })
	if err == nil && u.ActiveState == "" {
		err = fmt.Errorf("cannot read the state of %s: systemctl show printed no ActiveState", unit)
	}
	return u, err
}

// Environment returns the unit's Environment= entries (NAME=value), as
// systemctl show -p Environment prints them; systemd quotes an entry
// holding spaces or special characters, and such quoting is undone.
func (s *Systemd) Environment(ctx context.Context) ([]string, error) {
	out, err := s.systemctl(ctx, "show", "-p", "Environment", "--value", s.cfg.Unit)
	if err != nil {
		return nil, fmt.Errorf("cannot read the environment of %s: %w", s.cfg.Unit, err)
	}
	return splitEnvironment(strings.TrimSpace(string(out))), nil
}

// splitEnvironment splits systemd's space-separated, C-style quoted list.
func splitEnvironment(s string) []string {
	var (
		out   []string
		cur   strings.Builder
		quote rune
		have  bool
	)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '\\' && i+1 < len(rs):
			i++
			switch rs[i] {
			case 'n':
				cur.WriteRune('\n')
			case 't':
				cur.WriteRune('\t')
			default:
				cur.WriteRune(rs[i])
			}
			have = true
		case quote != 0 && r == quote:
			quote = 0
		case quote == 0 && (r == '"' || r == '\''):
			quote, have = r, true
		case quote == 0 && (r == ' ' || r == '\t' || r == '\n'):
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

// GateWatcher is implemented by a Manager that can judge, during a health
// gate, more than whether a process runs.
type GateWatcher interface {
	// WatchGate returns, for one gate, a health.Gate.Alive that reports
	// false once the backend crashed (or runs another binary than binary)
	// and an ExitDetail that says what was seen. Each call starts afresh.
	WatchGate(binary string) (alive func(ctx context.Context) (bool, error), detail func() string)
}

// WatchGate implements GateWatcher. Its Alive reports false, ending the
// gate at once, when during the gate:
//   - the unit is failed, or waiting for an automatic restart (Restart=);
//   - NRestarts grew since the last Start by this value (or, without one,
//     since the gate's first look): it crashed and systemd restarted it
//     between two looks;
//   - the unit stopped running;
//   - MainPID has run another file than binary for longer than a moment
//     (Linux: /proc/<pid>/exe; elsewhere this check is skipped), so the
//     unit's ExecStart= does not run the install's backend.
func (s *Systemd) WatchGate(binary string) (func(ctx context.Context) (bool, error), func() string) {
	var (
		mu        sync.Mutex
		baseline  = -1
		why       string
		strayPID  int
		strayFrom time.Time
	)
	s.mu.Lock()
	if s.started {
		baseline = s.restarts
	}
	s.mu.Unlock()
	alive := func(ctx context.Context) (bool, error) {
		u, err := s.Show(ctx)
		if err != nil {
			return true, err
		}
		mu.Lock()
		defer mu.Unlock()
		if baseline < 0 {
			baseline = u.NRestarts
		}
		switch {
		case u.CrashLooping():
			why = fmt.Sprintf("systemd reports %s %s", s.cfg.Unit, u)
			return false, nil
		case u.NRestarts > baseline:
			why = fmt.Sprintf("%s was restarted %d times by systemd during the health check (%s)", s.cfg.Unit, u.NRestarts-baseline, u)
			return false, nil
		case !u.Running():
			why = fmt.Sprintf("%s is not running (%s)", s.cfg.Unit, u)
			return false, nil
		}
		if binary == "" || u.MainPID == 0 {
			return true, nil
		}
		same, exe, err := runsFile(u.MainPID, binary)
		if err != nil || same {
			strayPID = 0
			return true, err
		}
		if strayPID != u.MainPID {
			strayPID, strayFrom = u.MainPID, time.Now()
			return true, nil
		}
		if time.Since(strayFrom) < restartSettle {
			return true, nil
		}
		why = fmt.Sprintf("%s's main process %d runs %s, not the install's %s: check the unit's ExecStart=", s.cfg.Unit, u.MainPID, exe, binary)
		return false, nil
	}
	detail := func() string {
		mu.Lock()
		defer mu.Unlock()
		return why
	}
	return alive, detail
}

// systemctl runs systemctl with args, bounded by the stop timeout plus a
// grace, and returns its standard output; an error carries its stderr.
func (s *Systemd) systemctl(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StopTimeout+systemctlGrace)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.cfg.Systemctl, append([]string{"--no-pager", "--no-ask-password"}, args...)...)
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if ctx.Err() != nil && !errors.Is(err, context.Canceled) {
			err = fmt.Errorf("%w: %w", err, ctx.Err())
		}
		if msg != "" {
			return stdout.Bytes(), fmt.Errorf("systemctl %s: %w: %s", strings.Join(args, " "), err, msg)
		}
		return stdout.Bytes(), fmt.Errorf("systemctl %s: %w", strings.Join(args, " "), err)
	}
	return stdout.Bytes(), nil
}
