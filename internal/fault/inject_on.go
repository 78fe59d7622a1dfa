//go:build faultinject

package fault

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
)

// Enabled reports whether this build acts on fault points.
const Enabled = true

// EnvVar holds the faults of a process: "point=action;point=action".
const EnvVar = "BETTER_PAAS_FAULTS"

var (
	mu     sync.Mutex
	faults = parse(os.Getenv(EnvVar))
	hits   = map[string]int{}
	hooks  = map[string]func(){}
)

// Set replaces the faults of this process (in-process tests) and clears
// the hooks.
func Set(spec string) {
	mu.Lock()
	defer mu.Unlock()
	faults, hits, hooks = parse(spec), map[string]int{}, map[string]func(){}
}

// Hook makes point call fn before its action, so an in-process test can
// change the world at an exact moment of an update (take a port, move a
// tag) instead of guessing when that moment comes.
func Hook(point string, fn func()) {
	mu.Lock()
	defer mu.Unlock()
	hooks[point] = fn
}

// Hits reports how often point was reached since the last Set.
func Hits(point string) int {
	mu.Lock()
	defer mu.Unlock()
	return hits[point]
}

func parse(spec string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Split(spec, ";") {
		if point, action, ok := strings.Cut(strings.TrimSpace(f), "="); ok {
			m[point] = action
		}
	}
	return m
}

// Inject acts on the fault configured for point, if any:
//   - kill:   SIGKILL this process at once, as a crash or power loss would;
//   - error:  return an error wrapping ErrInjected;
//   - enospc: return an error wrapping ErrInjected and syscall.ENOSPC;
//   - hang:   block until ctx is done, then return its error;
//   - term, int: send SIGTERM (as `systemctl stop` does) or SIGINT (Ctrl-C)
//     to this process and continue once it was delivered, so the process
//     goes on exactly as it would when the signal arrives at that moment.
func Inject(ctx context.Context, point string) error {
	full := name(ctx, point)
	mu.Lock()
	hits[full]++
	action, hook := faults[full], hooks[full]
	mu.Unlock()
	if hook != nil {
		hook()
	}
	switch action {
	case "":
		return nil
	case "kill":
		fmt.Fprintf(os.Stderr, "fault: killing the process at %s\n", full)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	case "error":
		return fmt.Errorf("%w at %s", ErrInjected, full)
	case "enospc":
		return fmt.Errorf("%w at %s: %w", ErrInjected, full, syscall.ENOSPC)
	case "hang":
		<-ctx.Done()
		return ctx.Err()
	case "term":
		signalSelf(full, syscall.SIGTERM)
		return nil
	case "int":
		signalSelf(full, syscall.SIGINT)
		return nil
	}
	return fmt.Errorf("%w at %s: unknown action %q", ErrInjected, full, action)
}

// signalSelf sends sig to this process and returns once the runtime has
// delivered it (to every channel registered with signal.Notify, ours
// included), so the fault point is where the signal arrived.
func signalSelf(point string, sig syscall.Signal) {
	fmt.Fprintf(os.Stderr, "fault: sending %s to the process at %s\n", sig, point)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sig)
	defer signal.Stop(ch)
	_ = syscall.Kill(os.Getpid(), sig)
	<-ch
}

// name is the full name of point in ctx.
func name(ctx context.Context, point string) string {
	if step, ok := ctx.Value(stepKey{}).(string); ok && step != "" {
		return step + ":" + point
	}
	return point
}
