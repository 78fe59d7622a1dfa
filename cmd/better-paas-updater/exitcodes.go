package main

// The exit codes of better-paas-updater, in one place: scripts and
// README's table rely on them, so a code once given keeps its meaning.
// 0 is success: the command did what it was asked (for check: no newer
// release; for plan: the plan was printed, whatever it says).
const (
	// exitFailure: any error (the message on stderr names the file or
	// field and the fix): a bad flag or config, a refused edit, a release
	// source that cannot be asked, a `run` that stops on an error.
	exitFailure = 1
	// exitStalled: `run --once` ended Stalled (the reason is printed and
	// in status.yaml): nothing changes until desired.yaml does or a human
	// acts.
	exitStalled = 2
	// exitConflict: `set` refused to overwrite a desired.yaml that
	// changed since it was read (another writer: a person, the dashboard,
	// GitOps); nothing was written. Read it again, or pass --force.
	exitConflict = 3
	// exitHeld: `run --once` stopped because a hook script asked to wait
	// (exit 21, hooks.RetryLaterCode): the update is journaled at that
	// step and resumes at the next run or in the daemon.
	exitHeld = 4
	// exitUpdateAvailable: `check` found a newer release of the app, or
	// `self-update --check` one of the updater, after `dnf check-update`.
	exitUpdateAvailable = 100
	// exitSignal is the base of the code of a process stopped by SIGINT
	// or SIGTERM: 128 + the signal's number (130, 143), the shell's
	// convention (stopSignal.exitCode).
	exitSignal = 128
)
