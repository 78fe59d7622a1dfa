// Package command runs an administrator's command (a build step, a hook)
// without a shell and without leaving anything behind.
//
// Every command runs in its own process group. When its timeout or the
// caller's context ends it, the whole group is sent SIGTERM and, after a
// short grace period, SIGKILL, so a `make` that spawned compilers or a hook
// that spawned a helper is stopped as a whole. When the command exits by
// itself, any process it left running in its group is stopped the same way
// before Run returns: a build step must not leave stray processes on a
// production host, and a background process holding the output pipe open
// must not make Run wait forever. A command that needs a long-lived process
// must start it through the service manager instead.
//
// Stdout and stderr are combined into one stream, so the order of lines is
// the order the command wrote them. The stream goes to Cmd.Output as it is
// produced and its last few KiB are kept for the error (ExitError.Tail), so
// a status message can say why a build failed without reading a log file.
//
// The command's environment is the daemon's plus Cmd.Env, appended (see
// Cmd.Env), and a program named without a slash is looked up in the PATH
// that environment ends up with (LookPath), so a build whose environment
// sets PATH runs the programs that PATH names.
//
// LogFile is a log on disk for such a stream, capped at its first and last
// MiB, so a command that prints without end cannot fill the disk.
//
// Limits: a process that leaves the group on purpose (setsid, setpgid) is
// out of reach; Run stops waiting for the output of such a process after
// the grace period, but does not stop it.
package command
