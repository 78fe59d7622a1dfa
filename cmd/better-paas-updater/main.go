// Command better-paas-updater keeps a git-checkout install of Better-PaaS at
// the version desired.yaml asks for, rolling back releases that fail.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/better-paas/updater/reconciler"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitError carries a specific exit code out of a command. A quiet one
// is an answer, not a failure (check's 100 when asked for JSON): nothing
// is printed on stderr.
type exitError struct {
	code  int
	err   error
	quiet bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// stopSignal is the cause of the context a command runs under once the
// process was asked to stop.
type stopSignal struct{ sig syscall.Signal }

func (s stopSignal) Error() string { return s.sig.String() + " received" }

// exitCode is the shell convention for a process ended by sig.
func (s stopSignal) exitCode() int { return exitSignal + int(s.sig) }

func main() {
	// The first SIGTERM or SIGINT cancels the context: the daemon finishes
	// what must finish (an undo in progress), leaves the journal for the
	// next start and exits. A second one ends the process at once.
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		signal.Stop(sigs)
		cancel(stopSignal{sig.(syscall.Signal)})
	}()
	err := newRootCommand().ExecuteContext(ctx)
	cancel(nil)
	if err == nil {
		return
	}
	var ee *exitError
	if errors.As(err, &ee) && ee.quiet {
		os.Exit(ee.code)
	}
	fmt.Fprintln(os.Stderr, "error:", err)
	if ee != nil {
		os.Exit(ee.code)
	}
	var stopped stopSignal
	if errors.As(context.Cause(ctx), &stopped) && (errors.Is(err, context.Canceled) || errors.Is(err, reconciler.ErrInterrupted)) {
		os.Exit(stopped.exitCode())
	}
	os.Exit(exitFailure)
}
