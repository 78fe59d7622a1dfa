package main

import (
	"log"
	"net"
	"os"
)

// notifyReady tells systemd that the app serves, when it runs as a
// Type=notify unit (systemd sets NOTIFY_SOCKET; a name starting with "@"
// is an abstract socket, which the net package understands). Elsewhere it
// does nothing. A message that cannot be sent is logged: the unit then
// fails to start in time, which says more than a silent app would.
func notifyReady() {
	socket := os.Getenv("NOTIFY_SOCKET")
	if socket == "" {
		return
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: socket, Net: "unixgram"})
	if err == nil {
		_, err = conn.Write([]byte("READY=1"))
		conn.Close()
	}
	if err != nil {
		log.Printf("better-paas: cannot tell systemd the app is ready: %v", err)
	}
}
