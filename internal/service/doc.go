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
// With ExecConfig.Listen (service.exec.listen) the supervisor owns the
// app's listening socket and passes it to every backend it starts with the
// systemd socket-activation protocol: fd 3, LISTEN_FDS=1,
// LISTEN_FDNAMES=http and LISTEN_PID, the backend's own pid. Go cannot set
// a variable between fork and execve, so the backend is started through a
// shim: the supervisor's own binary (/proc/self/exe on Linux), which an
// init function in this package turns into "set LISTEN_PID, execve the
// backend" (listen_shim.go); the pid, session and start time are the
// backend's. While one backend stops and the next starts, connections wait
// in the socket's backlog instead of being refused. A backend adopted from
// an earlier daemon holds the only copy of the socket: before stopping it,
// Stop takes a duplicate with pidfd_getfd (Linux, tcp, with ptrace rights
// over the backend, as root); where that is not possible, the next Start
// binds a new socket after the backend stopped, the one moment a
// connection can be refused. Because a release that does not
// accept the socket cannot bind the address while the supervisor holds it,
// the supervisor records in <pidfile>.modes.json how each program file was
// started and, through RecordHealthy, how it last ran healthy, and starts
// it that way again (startmodes.go): a rollback to a release that ran
// before Listen was turned on starts it the plain way.
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
