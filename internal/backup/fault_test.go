//go:build faultinject

package backup

import (
	"context"
	"errors"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/better-paas/updater/internal/fault"
)

// The "mid" fault point is passed once per file put into a backup, copied
// or linked, so the crash tests can stop a backup halfway even when
// nothing changed since the previous one.
func TestFaultPointMidBackup(t *testing.T) {
	trustCtimes(t)
	t.Cleanup(func() { fault.Set("") })
	src, root := tempDir(t), tempDir(t)
	writeFiles(t, filepath.Join(src, "d"), 6)
	ctx := fault.WithStep(context.Background(), "backup:do")

	fault.Set("")
	if _, err := Create(ctx, src, root, "b1"); err != nil {
		t.Fatal(err)
	}
	if got := fault.Hits("backup:do:mid"); got != 6 {
		t.Errorf("full backup passed mid %d times, want once per file (6)", got)
	}

	fault.Set("")
	b2, err := Create(ctx, src, root, "b2")
	if err != nil {
		t.Fatal(err)
	}
	if got := fault.Hits("backup:do:mid"); got != 6 || b2.Linked != 6 {
		t.Errorf("incremental with nothing changed passed mid %d times (linked %d), want 6", got, b2.Linked)
	}

	fault.Set("backup:do:mid=enospc")
	_, err = Create(ctx, src, root, "b3")
	if !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, fault.ErrInjected) {
		t.Fatalf("err = %v, want an injected ENOSPC", err)
	}
	list, err := List(root)
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %v, %v; want b1 and b2 only", ids(list), err)
	}
	if got := dirNames(t, root); len(got) != 2 {
		t.Errorf("root holds %v, want no partial backup", got)
	}

	// The cold pass passes the point once per file it copies; a fault
	// there leaves the hot backup complete.
	overwriteInPlace(t, filepath.Join(src, "d", "f01"), "changed")
	fault.Set("stop:do:mid=error")
	if _, err := Finish(fault.WithStep(context.Background(), "stop:do"), src, root, "b2"); !errors.Is(err, fault.ErrInjected) {
		t.Fatalf("Finish err = %v, want the injected fault", err)
	}
	if err := Verify(context.Background(), root, "b2"); err != nil {
		t.Errorf("Verify b2 after a failed cold pass: %v", err)
	}
}
