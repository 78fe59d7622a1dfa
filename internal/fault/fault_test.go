//go:build faultinject

package fault

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

func TestInjectActions(t *testing.T) {
	ctx := WithStep(context.Background(), "swap:do")
	Set("swap:do:mid=error;swap:do:after=enospc;swap:do:before=hang")
	if err := Inject(ctx, "mid"); !errors.Is(err, ErrInjected) {
		t.Errorf("error: %v", err)
	}
	if err := Inject(ctx, "after"); !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, ErrInjected) {
		t.Errorf("enospc: %v", err)
	}
	hctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := Inject(hctx, "before"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hang: %v", err)
	}
	if err := Inject(ctx, "elsewhere"); err != nil || Hits("swap:do:elsewhere") != 1 || Hits("swap:do:mid") != 1 {
		t.Errorf("unconfigured point: %v, hits %d", err, Hits("swap:do:elsewhere"))
	}
	called := 0
	Hook("swap:do:mid", func() { called++ })
	_ = Inject(ctx, "mid")
	if called != 1 {
		t.Errorf("hook called %d times", called)
	}
	Set("")
	if err := Inject(ctx, "mid"); err != nil || called != 1 {
		t.Errorf("after Set(\"\"): %v, hook called %d times", err, called)
	}
}

func TestInjectSignalsTheProcess(t *testing.T) {
	for _, tc := range []struct {
		action string
		sig    os.Signal
	}{{"term", syscall.SIGTERM}, {"int", os.Interrupt}} {
		got := make(chan os.Signal, 1)
		signal.Notify(got, tc.sig) // as the daemon's main does
		Set("build:do:mid=" + tc.action)
		if err := Inject(WithStep(context.Background(), "build:do"), "mid"); err != nil {
			t.Errorf("%s: %v", tc.action, err)
		}
		select {
		case s := <-got:
			if s != tc.sig {
				t.Errorf("%s: received %v", tc.action, s)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s: %v was never delivered", tc.action, tc.sig)
		}
		signal.Stop(got)
	}
	Set("")
}
