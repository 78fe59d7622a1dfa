package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// The environment systemd sets for a unit's main process.
const (
	envSocket      = "NOTIFY_SOCKET"
	envWatchdogUs  = "WATCHDOG_USEC"
	envWatchdogPID = "WATCHDOG_PID"
)

// Notifier sends sd_notify messages to one socket. The zero value and a
// nil *Notifier send nothing: every method then returns nil. It is safe
// for concurrent use (each message is one datagram on its own connection).
type Notifier struct {
	addr     *net.UnixAddr
	watchdog time.Duration
}

// FromEnv returns the Notifier of this process, read from $NOTIFY_SOCKET,
// $WATCHDOG_USEC and $WATCHDOG_PID, and removes the three variables from
// the environment so that processes this one starts (the app, under the
// exec supervisor) do not take systemd's messages as theirs. A process
// not under a Type=notify unit gets a Notifier that sends nothing.
func FromEnv() *Notifier {
	n := &Notifier{}
	if s := os.Getenv(envSocket); s != "" {
		n.addr = &net.UnixAddr{Name: s, Net: "unixgram"}
		n.watchdog = watchdogInterval(os.Getenv(envWatchdogUs), os.Getenv(envWatchdogPID), os.Getpid())
	}
	for _, k := range []string{envSocket, envWatchdogUs, envWatchdogPID} {
		_ = os.Unsetenv(k)
	}
	return n
}

// New returns a Notifier that sends to socket (a path, or "@name" for an
// abstract socket) and reports watchdog as its WatchdogInterval; "" sends
// nothing (tests).
func New(socket string, watchdog time.Duration) *Notifier {
	n := &Notifier{watchdog: watchdog}
	if socket != "" {
		n.addr = &net.UnixAddr{Name: socket, Net: "unixgram"}
	}
	return n
}

// Enabled reports whether messages go anywhere.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != nil }

// WatchdogInterval is how often Watchdog must be called: half the unit's
// WatchdogSec=, as sd_watchdog_enabled(3) advises. 0 when the unit has no
// watchdog, or it is meant for another process ($WATCHDOG_PID).
func (n *Notifier) WatchdogInterval() time.Duration {
	if !n.Enabled() {
		return 0
	}
	return n.watchdog
}

// Ready tells systemd the daemon has started up (READY=1): a Type=notify
// unit becomes active (running) only then.
func (n *Notifier) Ready() error { return n.Send("READY=1") }

// Status sets the one line `systemctl status` shows (STATUS=). Newlines
// are replaced by spaces, since a newline separates assignments.
func (n *Notifier) Status(text string) error {
	return n.Send("STATUS=" + strings.ReplaceAll(text, "\n", " "))
}

// Watchdog pings the service manager's watchdog (WATCHDOG=1).
func (n *Notifier) Watchdog() error { return n.Send("WATCHDOG=1") }

// Stopping tells systemd the daemon is shutting down (STOPPING=1).
func (n *Notifier) Stopping() error { return n.Send("STOPPING=1") }

// Send sends state, one or more newline-separated assignments, as one
// datagram. It returns nil without a socket, and an error naming the
// socket when it cannot be sent (systemd gone, say): callers log it and go
// on, since being unable to notify is no reason to stop updating.
func (n *Notifier) Send(state string) error {
	if !n.Enabled() {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("cannot notify %s: %w", n.addr.Name, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("cannot notify %s: %w", n.addr.Name, err)
	}
	return nil
}

// watchdogInterval parses $WATCHDOG_USEC and $WATCHDOG_PID for the
// process pid: half the timeout, or 0 when there is none for pid (unset,
// unparsable, or meant for another process).
func watchdogInterval(usec, wpid string, pid int) time.Duration {
	us, err := strconv.ParseInt(usec, 10, 64)
	if err != nil || us <= 0 {
		return 0
	}
	if wpid != "" {
		if p, err := strconv.Atoi(wpid); err != nil || p != pid {
			return 0
		}
	}
	return time.Duration(us) * time.Microsecond / 2
}
