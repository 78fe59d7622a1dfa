package service

import (
	"encoding/json"
	"fmt"
	"os"
	"syscall"

	"github.com/better-paas/updater/internal/apiversion"
	"github.com/better-paas/updater/internal/atomicfile"
	"github.com/better-paas/updater/internal/proc"
)

// With ExecConfig.Listen set, a backend that does not accept an inherited
// socket (an app's older release) finds the port taken by the daemon's
// socket and cannot start. Turning the feature on must not make such a
// release unusable as a rollback target, so the supervisor remembers, per
// program file, how it last ran healthy, and starts it that way again:
// with the socket, or the plain way after closing the daemon's socket.
// A program never seen healthy gets the socket when Listen is set.
//
// The record lives beside the pidfile, in <pidfile>.modes.json:
//
//	apiVersion: better-paas.dev/v1
//	kind: ExecStartModes
//	running: the mode and program of the backend the pidfile names
//	healthy: the last maxHealthyModes programs seen healthy, newest last
const (
	startModesKind  = "ExecStartModes"
	maxHealthyModes = 32
)

// program identifies a program file. A build writes a new file (go build
// replaces its output), a rollback renames the previous one back, so the
// identity follows a release, not a path.
type program struct {
	Dev   uint64 `json:"dev"`
	Inode uint64 `json:"inode"`
	Size  int64  `json:"size"`
	MTime int64  `json:"mtimeNs"`
}

func programOf(path string) (program, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return program{}, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return program{}, false
	}
	return program{Dev: uint64(st.Dev), Inode: uint64(st.Ino), Size: fi.Size(), MTime: fi.ModTime().UnixNano()}, true //nolint:unconvert // Dev is int32 on darwin
}

// startMode is how one backend was started.
type startMode struct {
	PID     int     `json:"pid,omitempty"`
	Start   uint64  `json:"startTime,omitempty"`
	Program program `json:"program"`
	// Socket is true when the backend was given the daemon's socket.
	Socket bool `json:"socket"`
}

type startModes struct {
	APIVersion string      `json:"apiVersion"`
	Kind       string      `json:"kind"`
	Running    *startMode  `json:"running,omitempty"`
	Healthy    []startMode `json:"healthy,omitempty"`
}

func (e *Exec) modesPath() string { return e.cfg.PIDFile + ".modes.json" }

// readModes reads the record; a missing or unreadable one is empty: it
// only refines which way a program starts, and the default is safe to
// retry (a failed health gate rolls back).
func (e *Exec) readModes() startModes {
	var m startModes
	data, err := os.ReadFile(e.modesPath())
	if err != nil || json.Unmarshal(data, &m) != nil || m.Kind != startModesKind {
		return startModes{}
	}
	return m
}

func (e *Exec) writeModes(m startModes) error {
	m.APIVersion, m.Kind = apiversion.V1, startModesKind
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode %s: %w", e.modesPath(), err)
	}
	if err := atomicfile.WriteFile(e.modesPath(), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("cannot record how the backend was started: %w", err)
	}
	return nil
}

// wantSocket decides how to start the program at path: with the socket
// unless Listen is off or the program last ran healthy without it.
func (e *Exec) wantSocket(path string) (bool, program) {
	p, ok := programOf(path)
	if e.listen == nil {
		return false, p
	}
	if !ok {
		return true, p
	}
	m := e.readModes()
	for i := len(m.Healthy) - 1; i >= 0; i-- {
		if m.Healthy[i].Program == p {
			return m.Healthy[i].Socket, p
		}
	}
	return true, p
}

// RecordHealthy records that the running backend passed the health gate,
// so that its program file is started the same way (with or without the
// socket) when a restart or a rollback starts it again. Call it after each
// passed gate, or after a healthy probe of a converged host; it is
// idempotent and writes nothing when the record holds it already. A
// backend whose start was not recorded (adopted from a daemon that kept no
// record, or started by hand) never had this daemon's socket: it is
// recorded as running the plain way, so a rollback to it after Listen was
// turned on starts it as it ran. Nothing running records nothing. Errors:
// the pidfile is corrupt, or the record cannot be written.
func (e *Exec) RecordHealthy() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	rec, running, err := e.observe()
	if err != nil {
		return fmt.Errorf("cannot record a healthy backend: %w", err)
	}
	if !running {
		return nil
	}
	m := e.readModes()
	var h startMode
	if m.Running != nil && m.Running.PID == rec.pid && m.Running.Start == rec.start {
		h = *m.Running
		h.PID, h.Start = 0, 0
	} else {
		path, err := proc.LookPath(e.cfg.Command[0], e.cfg.Dir)
		if err != nil {
			return nil // no program to name: nothing to remember
		}
		p, ok := programOf(path)
		if !ok {
			return nil
		}
		h = startMode{Program: p, Socket: false}
	}
	if n := len(m.Healthy); n > 0 && m.Healthy[n-1] == h {
		return nil // known already: a converged host calling it at every resync writes nothing
	}
	kept := m.Healthy[:0]
	for _, old := range m.Healthy {
		if old.Program != h.Program {
			kept = append(kept, old)
		}
	}
	m.Healthy = append(kept, h)
	if n := len(m.Healthy); n > maxHealthyModes {
		m.Healthy = m.Healthy[n-maxHealthyModes:]
	}
	return e.writeModes(m)
}

// recordRunning notes how the backend rec was started, with Listen off
// too: a release that ran healthy the plain way before Listen was turned
// on must be started the plain way by a rollback after it. A failure is
// returned but not fatal to Start: the backend runs, only the memory of
// its mode is lost.
func (e *Exec) recordRunning(rec pidRecord, p program, socket bool) error {
	m := e.readModes()
	m.Running = &startMode{PID: rec.pid, Start: rec.start, Program: p, Socket: socket}
	return e.writeModes(m)
}

// HealthRecorder is implemented by a Manager that wants to know when the
// backend it runs has passed the health gate (Exec, to start each release
// the way it last ran healthy). The reconciler calls RecordHealthy after
// every passed gate; an error is logged, not fatal: only a preference is
// lost.
type HealthRecorder interface {
	RecordHealthy() error
}

var _ HealthRecorder = (*Exec)(nil)
