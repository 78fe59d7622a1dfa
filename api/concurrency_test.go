package api_test

import (
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/better-paas/updater/spec"
)

// TestConcurrentUpdates: 50 POST update calls that all saw one
// generation: exactly one is written, the other 49 get 409, and
// desired.yaml parses after every answer and throughout. Then 50 without
// a generation all succeed and leave a valid file.
func TestConcurrentUpdates(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	const n = 50
	stop := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() { // a reader parsing desired.yaml while the writers run
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := spec.Load(f.cfg.DesiredFile); err != nil {
				t.Errorf("desired.yaml unreadable mid-way: %v", err)
				return
			}
		}
	})

	var written []string // versions whose update answered 200
	run := func(withGeneration bool) map[int]int {
		gen := f.generation()
		var mu sync.Mutex
		codes := map[int]int{}
		written = nil
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				body := `{"version":"v1.0.` + strconv.Itoa(i) + `"}`
				if withGeneration {
					body = `{"version":"v1.0.` + strconv.Itoa(i) + `","ifGeneration":"` + gen + `"}`
				}
				a := f.do(request{method: http.MethodPost, path: "/api/v1/update", token: f.token, body: body})
				if _, err := spec.Load(f.cfg.DesiredFile); err != nil {
					t.Errorf("desired.yaml unreadable after an answer: %v", err)
				}
				if a.code == http.StatusConflict && a.errorCode() != "conflict" {
					t.Errorf("409 with code %q", a.errorCode())
				}
				mu.Lock()
				codes[a.code]++
				if a.code == http.StatusOK {
					written = append(written, "v1.0."+strconv.Itoa(i))
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		return codes
	}

	if codes := run(true); codes[http.StatusOK] != 1 || codes[http.StatusConflict] != n-1 {
		t.Errorf("with one generation: %v, want 1×200 and %d×409", codes, n-1)
	}
	d, err := spec.Load(f.cfg.DesiredFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 1 || d.Spec.Version != written[0] {
		t.Errorf("desired.yaml asks for %s; the update that succeeded was %v", d.Spec.Version, written)
	}
	if codes := run(false); codes[http.StatusOK] != n {
		t.Errorf("without a generation: %v, want %d×200", codes, n)
	}
	close(stop)
	readers.Wait()
	last, err := spec.Load(f.cfg.DesiredFile)
	if err != nil {
		t.Fatal(err)
	}
	if last.Metadata.Annotations["owner"] != "ansible" || d.Metadata.Annotations["owner"] != "ansible" {
		t.Errorf("metadata lost: %+v", last.Metadata)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(f.dir, ".desired.yaml.tmp-*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}
