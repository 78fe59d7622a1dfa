package main

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDrainServesAConnectionAcceptedBeforeTheStop: a client that connected
// before the server was asked to stop, and sends its request only after,
// gets an answer. (http.Server.Shutdown alone closes it without one.)
func TestDrainServesAConnectionAcceptedBeforeTheStop(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := newConnTracker()
	accepted := make(chan struct{}, 1)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }),
		ConnState: func(c net.Conn, s http.ConnState) {
			conns.hook(c, s)
			if s == http.StateNew {
				accepted <- struct{}{}
			}
		},
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	<-accepted // the server holds the connection; no request yet

	_ = ln.Close()
	if err := <-serveErr; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve = %v, want net.ErrClosed", err)
	}
	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		drained <- drain(ctx, srv, conns)
	}()
	select {
	case err := <-drained:
		t.Fatalf("drain returned (%v) while a connection waited for its request", err)
	default:
	}

	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	status, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "HTTP/1.1 200") {
		t.Fatalf("answer = %q, %v; want 200", status, err)
	}
	if err := <-drained; err != nil {
		t.Errorf("drain: %v", err)
	}
}
