package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// version is stamped at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

// config is read once from the environment at start.
type config struct {
	addr        string
	frontendDir string
	dataDir     string
}

func configFromEnv() config {
	return config{
		addr:        getenv("ADDR", "127.0.0.1:8080"),
		frontendDir: getenv("FRONTEND_DIR", filepath.Join("frontend", "dist")),
		dataDir:     getenv("DATA_DIR", "data"),
	}
}

func getenv(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}

func main() {
	printVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *printVersion {
		fmt.Println(version)
		return
	}

	// SIGTERM is how a service manager (and the updater) asks us to stop.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, configFromEnv()); err != nil {
		log.Printf("better-paas: %v", err)
		os.Exit(1)
	}
}

// run migrates the data folder, serves HTTP until ctx is cancelled, then
// drains in-flight requests.
func run(ctx context.Context, cfg config) error {
	if err := migrate(cfg.dataDir, migrations); err != nil {
		return err
	}

	ln, inherited, err := listen(cfg.addr)
	if err != nil {
		return err
	}
	conns := newConnTracker()
	srv := &http.Server{
		Handler:           newServer(cfg).routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ConnState:         conns.hook,
	}
	// Log the real address: with ADDR=127.0.0.1:0 the kernel picks the port.
	how := ""
	if inherited {
		how = " (inherited socket)"
	}
	log.Printf("better-paas %s listening on http://%s%s", version, ln.Addr(), how)

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	// The listener is open: a connection now waits in its backlog rather
	// than being refused, so systemd may consider the app started.
	notifyReady()

	select {
	case err := <-serveErr:
		return fmt.Errorf("cannot serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}

	log.Printf("better-paas %s shutting down", version)
	// Stop accepting before anything else (see drain): connections not
	// accepted yet wait in the socket's backlog for the next version when
	// the socket was inherited.
	_ = ln.Close()
	if err := <-serveErr; !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("cannot serve on %s: %w", ln.Addr(), err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return drain(shutdownCtx, srv, conns)
}
