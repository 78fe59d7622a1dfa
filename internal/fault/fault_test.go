//go:build faultinject

package fault

import (
	"context"
	"errors"
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
