// Package service starts, stops and observes the app's backend process.
//
// The reconciler talks to a Manager. Exec is an embedded supervisor
// (`service.manager: exec`) for hosts without systemd; it also reports the
// app's exits (Exits) so a crashed app is started again at once. Systemd
// (`service.manager: systemd`) drives a unit through systemctl, and its
// WatchGate lets the health gate fail at once when the unit crash-loops
// under Restart= or its MainPID runs another binary than the new one.
//
// Exec starts the backend in a new session, so it keeps running when the
// daemon is restarted or killed, and records it in a pidfile holding the
// pid and the process start time (field 22 of /proc/<pid>/stat). A pid
// alone is not enough: after a reboot or a long uptime the same number can
// belong to an unrelated process, and signalling that would be a disaster.
// So every operation re-reads the pidfile and believes it only when
// /proc/<pid>/stat shows a live (not zombie) process with the same start
// time. A backend that an earlier run of the daemon started is adopted:
// reported as running, and stopped on request, just like one started by
// this run. A pidfile that does not match is stale and is removed.
//
// Crash detection is by polling: Status is cheap (one small file and one
// /proc read) and notices promptly when a backend this run started has
// exited, because a goroutine waits for it (which also reaps it, so no
// zombie is left). Wrap it for health.Gate.Alive like
//
//	func(ctx context.Context) (bool, error) {
//		st, err := m.Status(ctx)
//		return st.Running, err
//	}
//
// Start reports only failures to start the program at all (missing or
// non-executable file, bad folder). A backend that starts and then exits
// at once is found by Status or the health check. To say why it exited,
// Start records where its output begins in the log, and LogTail returns
// the end of that run's output (bounded); ExitDetail formats it for
// health.Gate.ExitDetail:
//
//	ExitDetail: func() string { return service.ExitDetail(m) },
//
// One Exec, or one daemon, per pidfile: two supervisors sharing a pidfile
// could both start a backend.
//
// A new session escapes the daemon's terminal and process group, not its
// cgroup. When the daemon itself runs under systemd, its unit needs
// KillMode=process, or `systemctl restart` of the daemon also kills the
// backend (the default KillMode=control-group kills the whole cgroup).
//
// Known gap: if the daemon dies between starting the backend and writing
// the pidfile (a few microseconds), the backend runs untracked; the next
// Start then starts another, which typically fails to bind the port.
package service
