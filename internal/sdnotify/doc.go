// Package sdnotify speaks systemd's sd_notify protocol: datagrams such as
// "READY=1" sent to the unix socket named by $NOTIFY_SOCKET (a path, or an
// abstract socket when it starts with '@'), so a Type=notify unit becomes
// active only once the daemon says it is ready, shows what it does in
// `systemctl status`, and is restarted by WatchdogSec= when it stops
// pinging. Without $NOTIFY_SOCKET (not under systemd, or on darwin) every
// call is a no-op. Pure Go, no cgo.
package sdnotify
