package desired

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

const pinned = `apiVersion: updates.better-paas.io/v1
kind: DesiredVersion
metadata:
  name: web-1
  annotations:
    owner: ansible
    updates.better-paas.io/retry-version: v1.2.0
spec:
  version: v1.2.0
  commit: 0123456789abcdef0123456789abcdef01234567
  channel: prerelease
  allowDowngrade: true
`

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReadGivesGenerationAndError: the generation is the digest of the
// bytes, a missing file has that of empty content, and an invalid file
// says why.
func TestReadGivesGenerationAndError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "desired.yaml")
	st := Read(path)
	if st.Generation != Generation(nil) || !strings.Contains(st.Error, "no such file") || st.Version != "" {
		t.Errorf("missing: %+v", st)
	}
	write(t, path, pinned)
	st = Read(path)
	if st.Generation != Generation([]byte(pinned)) || st.Error != "" || st.Version != "v1.2.0" || st.File != path {
		t.Errorf("valid: %+v", st)
	}
	write(t, path, strings.Replace(pinned, "v1.2.0\n  commit", "1.2\n  commit", 1))
	if st := Read(path); st.Error == "" || st.Version != "" || !strings.HasPrefix(st.Generation, "sha256:") {
		t.Errorf("invalid: %+v", st)
	}
}

// TestSetReplacesTheSpecAndKeepsMetadata: set keeps the channel and the
// metadata but not a pin, a permission or a retry, as the CLI always did.
func TestSetReplacesTheSpecAndKeepsMetadata(t *testing.T) {
	path := filepath.Join(t.TempDir(), "desired.yaml")
	write(t, path, pinned)
	st, err := Set(path, Generation([]byte(pinned)), SetOptions{Version: "v1.3.0"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := spec.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := spec.Spec{Version: "v1.3.0", Channel: spec.ChannelPrerelease}
	if !reflect.DeepEqual(d.Spec, want) || d.Metadata.Name != "web-1" || d.Metadata.Annotations["owner"] != "ansible" {
		t.Errorf("written: %+v", d)
	}
	if _, ok := d.Metadata.Annotations[spec.RetryVersionAnnotation]; ok {
		t.Error("the retry version carried over to the new spec")
	}
	if data, _ := os.ReadFile(path); st.Generation != Generation(data) || st.Version != "v1.3.0" {
		t.Errorf("state %+v does not describe the file written", st)
	}
}

// TestEditsRefuseAStaleGeneration: nothing is written when the file
// changed since the generation the caller passes.
func TestEditsRefuseAStaleGeneration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "desired.yaml")
	write(t, path, pinned)
	stale := Generation([]byte("something else"))
	statusPath := filepath.Join(t.TempDir(), "status.yaml")
	st := status.New()
	st.CurrentVersion, st.LastKnownGood = "v1.2.0", &status.Revision{Version: "v1.1.0"}
	if err := status.Save(statusPath, st); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for name, edit := range map[string]func() error{
		"set":      func() error { _, err := Set(path, stale, SetOptions{Version: "v1.3.0"}); return err },
		"retry":    func() error { _, _, err := Retry(path, stale, "", now); return err },
		"rollback": func() error { _, _, err := Rollback(path, statusPath, stale, now); return err },
	} {
		if err := edit(); !errors.Is(err, ErrConflict) {
			t.Errorf("%s: err = %v, want ErrConflict", name, err)
		}
		if data, _ := os.ReadFile(path); string(data) != pinned {
			t.Errorf("%s: desired.yaml changed:\n%s", name, data)
		}
	}
}

// TestGenerationIsCheckedAgainBeforeTheRename: a writer in another
// process that replaces the file between the read and the rename makes
// the edit fail with ErrConflict, its own content kept.
func TestGenerationIsCheckedAgainBeforeTheRename(t *testing.T) {
	path := filepath.Join(t.TempDir(), "desired.yaml")
	write(t, path, pinned)
	other := strings.Replace(pinned, "name: web-1", "name: web-2", 1)
	_, err := apply(path, "", func(d *spec.DesiredVersion, _ error) (*spec.DesiredVersion, error) {
		write(t, path, other) // the other process, after our read
		d.Spec = spec.Spec{Version: "v9.9.9"}
		d.Metadata.Annotations = nil
		return d, nil
	})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
	if data, _ := os.ReadFile(path); string(data) != other {
		t.Errorf("the other writer's file was replaced:\n%s", data)
	}
}

// TestSetRefusesAnInvalidVersion: spec's error, nothing written.
func TestSetRefusesAnInvalidVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "desired.yaml")
	write(t, path, pinned)
	for _, v := range []string{"", "1.2.0", "v1.2", "latest; rm -rf /"} {
		_, err := Set(path, "", SetOptions{Version: v})
		if !errors.Is(err, spec.ErrInvalidVersion) && !errors.Is(err, spec.ErrMissingVersion) {
			t.Errorf("Set(%q) = %v, want a spec version error", v, err)
		}
	}
	if data, _ := os.ReadFile(path); string(data) != pinned {
		t.Errorf("desired.yaml changed:\n%s", data)
	}
}

// TestRetry: stamps the annotation, names the version when given, and
// refuses a missing file or a version the pinned spec does not ask for.
func TestRetry(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "desired.yaml")
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	if _, _, err := Retry(path, "", "", now); !errors.Is(err, ErrUnusable) {
		t.Errorf("missing file: %v, want ErrUnusable", err)
	}
	write(t, path, "apiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\nspec:\n  version: latest\n")
	_, what, err := Retry(path, "", "", now)
	if err != nil || what != "the newest release that failed (latest)" {
		t.Fatalf("Retry = %q, %v", what, err)
	}
	d, _ := spec.Load(path)
	if stamp, v := d.RetryRequest(); stamp != "2026-05-01T12:00:00Z" || v != "" {
		t.Errorf("retry request = %q %q", stamp, v)
	}
	if _, what, err = Retry(path, "", "v1.2.0", now.Add(time.Second)); err != nil || what != "v1.2.0" {
		t.Errorf("Retry(v1.2.0) = %q, %v", what, err)
	}
	write(t, path, pinned)
	if _, _, err := Retry(path, "", "v1.1.0", now); !errors.Is(err, spec.ErrInvalidVersion) {
		t.Errorf("Retry of another version than the pinned one = %v, want ErrInvalidVersion", err)
	}
	if data, _ := os.ReadFile(path); string(data) != pinned {
		t.Errorf("desired.yaml changed:\n%s", data)
	}
}

// TestRollback: pins the good version to go back to (the last known good
// one, or the one before it when the last known good runs) with
// allowDowngrade and records the request; refuses when there is none.
func TestRollback(t *testing.T) {
	dir := t.TempDir()
	path, statusPath := filepath.Join(dir, "desired.yaml"), filepath.Join(dir, "status.yaml")
	write(t, path, "apiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\nmetadata:\n  annotations:\n    updates.better-paas.io/retry-version: v1.2.0\nspec:\n  version: latest\n")
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	if _, _, err := Rollback(path, statusPath, "", now); !errors.Is(err, ErrNothingToRollBack) {
		t.Errorf("without status.yaml: %v, want ErrNothingToRollBack", err)
	}
	st := status.New()
	st.CurrentVersion, st.LastKnownGood = "v1.2.0", &status.Revision{Version: "v1.2.0"}
	if err := status.Save(statusPath, st); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Rollback(path, statusPath, "", now); !errors.Is(err, ErrNothingToRollBack) || !strings.Contains(err.Error(), "only version") {
		t.Errorf("last known good running, no previous one: %v, want ErrNothingToRollBack", err)
	}
	// The usual case: v1.2.0 was installed over a good v1.0.0, passed its
	// health check, and someone wants v1.0.0 back.
	st.PreviousGood = &status.Revision{Version: "v1.0.0"}
	if err := status.Save(statusPath, st); err != nil {
		t.Fatal(err)
	}
	if target, err := RollbackTarget(st); err != nil || target != "v1.0.0" {
		t.Errorf("RollbackTarget with a previous good version = %q, %v; want v1.0.0", target, err)
	}
	// A running version that never passed its health check here: back to
	// the last known good one, whatever came before it.
	st.LastKnownGood.Version = "v1.1.0"
	if err := status.Save(statusPath, st); err != nil {
		t.Fatal(err)
	}
	written, version, err := Rollback(path, statusPath, "", now)
	if err != nil || version != "v1.1.0" || written.Version != "v1.1.0" {
		t.Fatalf("Rollback = %+v %q %v", written, version, err)
	}
	d, _ := spec.Load(path)
	if !reflect.DeepEqual(d.Spec, spec.Spec{Version: "v1.1.0", Channel: spec.ChannelStable, AllowDowngrade: true}) {
		t.Errorf("spec = %+v", d.Spec)
	}
	if got := d.Metadata.Annotations[spec.RollbackAnnotation]; got != "2026-05-01T12:00:00Z" {
		t.Errorf("rollback annotation = %q", got)
	}
	if _, ok := d.Metadata.Annotations[spec.RetryVersionAnnotation]; ok {
		t.Error("the retry version was kept")
	}
}

// TestConcurrentSetsWithOneGeneration: of many edits that saw the same
// generation exactly one is written; the file is valid throughout.
func TestConcurrentSetsWithOneGeneration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "desired.yaml")
	write(t, path, pinned)
	gen := Generation([]byte(pinned))
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = Set(path, gen, SetOptions{Version: "v1.0." + strconv.Itoa(i)})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrConflict):
			t.Errorf("err = %v, want ErrConflict", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d edits succeeded, want 1", ok)
	}
	if _, err := spec.Load(path); err != nil {
		t.Error(err)
	}
}

// TestConcurrentSetsAcrossProcesses: edits from several processes (two
// `set`s, `set` and the API, scripts), each reading the generation and
// writing with it, many times over: no two edits may both succeed from the
// same generation (a lost update). Without the folder lock two processes
// can both pass the check before the rename.
func TestConcurrentSetsAcrossProcesses(t *testing.T) {
	if path := os.Getenv("DESIRED_TEST_SET"); path != "" {
		_, _ = io.ReadAll(os.Stdin) // the start signal: the parent closes stdin
		for i := range 300 {
			gen := Read(path).Generation
			_, err := Set(path, gen, SetOptions{Version: fmt.Sprintf("v1.%s.%d", os.Getenv("DESIRED_TEST_CHILD"), i)})
			switch {
			case err == nil:
				fmt.Println("written", gen)
			case errors.Is(err, ErrConflict):
			default:
				fmt.Println("error:", err)
			}
		}
		return
	}
	path := filepath.Join(t.TempDir(), "desired.yaml")
	write(t, path, pinned)
	type child struct {
		cmd   *exec.Cmd
		start io.WriteCloser
		out   *bytes.Buffer
	}
	var children []child
	for i := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestConcurrentSetsAcrossProcesses$")
		cmd.Env = append(os.Environ(), "DESIRED_TEST_SET="+path, "DESIRED_TEST_CHILD="+strconv.Itoa(i))
		start, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out := &bytes.Buffer{}
		cmd.Stdout = out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		children = append(children, child{cmd, start, out})
	}
	for _, c := range children {
		c.start.Close()
	}
	from := map[string]int{} // generation -> successful edits made from it
	writes := 0
	for _, c := range children {
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("child: %v\n%s", err, c.out)
		}
		for _, line := range strings.Split(strings.TrimSpace(c.out.String()), "\n") {
			if strings.HasPrefix(line, "error:") {
				t.Fatalf("child: %s", line)
			}
			gen, ok := strings.CutPrefix(line, "written ")
			if !ok {
				continue // the test framework's own lines
			}
			from[gen]++
			writes++
		}
	}
	for gen, n := range from {
		if n > 1 {
			t.Errorf("%d edits succeeded from generation %s: a lost update", n, gen)
		}
	}
	if writes == 0 {
		t.Error("no edit succeeded")
	}
	if _, err := spec.Load(path); err != nil {
		t.Error(err)
	}
}
