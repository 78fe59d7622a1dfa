package fleet

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/better-paas/updater/status"
)

func percent(n int) *int { return &n }

func wave(r *Rollout, ids []string) map[string]bool {
	in := map[string]bool{}
	for _, id := range ids {
		if ok, _ := r.Wave(id, id); ok {
			in[id] = true
		}
	}
	return in
}

// TestWave: at 25% about a quarter of 200 hosts are in, the same ones
// every time; raising the percentage only adds hosts; canaries are in at
// every percent; 100 takes all, 0 none but the canaries.
func TestWave(t *testing.T) {
	ids := make([]string, 200)
	for i := range ids {
		ids[i] = fmt.Sprintf("host-%03d", i)
	}
	quarter := wave(&Rollout{Percent: percent(25)}, ids)
	if n := len(quarter); n < 30 || n > 70 {
		t.Errorf("25%% of 200 hosts took %d; want about 50 (30-70)", n)
	}
	if again := wave(&Rollout{Percent: percent(25)}, ids); fmt.Sprint(again) != fmt.Sprint(quarter) {
		t.Error("the same rollout chose other hosts the second time")
	}
	half := wave(&Rollout{Percent: percent(50)}, ids)
	for id := range quarter {
		if !half[id] {
			t.Errorf("%s was in the 25%% wave but not the 50%% one", id)
		}
	}
	if n := len(wave(&Rollout{Percent: percent(100)}, ids)); n != 200 {
		t.Errorf("100%% took %d of 200", n)
	}
	if n := len(wave(nil, ids)); n != 200 {
		t.Errorf("no rollout took %d of 200", n)
	}
	// Canaries chosen outside the 25% wave.
	var canaries []string
	for _, id := range ids {
		if !quarter[id] && len(canaries) < 2 {
			canaries = append(canaries, id)
		}
	}
	for _, p := range []int{0, 25} {
		r := &Rollout{Percent: percent(p), Canaries: canaries}
		got := wave(r, ids)
		for _, c := range canaries {
			if in, canary := r.Wave(c, c); !in || !canary || !got[c] {
				t.Errorf("canary %s not in the %d%% wave", c, p)
			}
		}
		if p == 0 && len(got) != 2 {
			t.Errorf("0%% with canaries took %d hosts, want the 2 canaries", len(got))
		}
	}
	for _, id := range ids {
		if c := Cohort(id); c < 0 || c > 99 {
			t.Fatalf("Cohort(%s) = %d", id, c)
		}
	}
}

// TestFleetOfHosts: 20 hosts each run a Syncer against one bare fleet
// repo. At 25% exactly the hosts whose cohort is below 25 and the canary
// take the new desired.yaml, the same ones on a second pass; the others
// keep theirs untouched; at 100% all do.
func TestFleetOfHosts(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("20 hosts syncing several times: slow under -short")
	}
	r := newFleetRepo(t)
	r.commit(map[string]string{"fleet/desired.yaml": plainFile("v1.0.0")})
	var hosts []host
	var syncers []*Syncer
	for i := range 20 {
		h := newHost(t, r.Bare, fmt.Sprintf("web-%02d", i), "")
		hosts = append(hosts, h)
		syncers = append(syncers, h.syncer(t))
	}
	for i, s := range syncers {
		if res := syncOK(t, s); res.Result != status.FleetApplied {
			t.Fatalf("host %d first sync = %s", i, res.Result)
		}
	}
	// A canary outside the cohort, so it moves only as a canary.
	canary := ""
	for _, h := range hosts {
		if Cohort(h.Source.HostID) >= 25 {
			canary = h.Source.Hostname
			break
		}
	}
	r.commit(map[string]string{"fleet/desired.yaml": fleetFile("v1.1.0", 25, canary)})
	var moved []string
	for pass := range 2 {
		var got []string
		for i, s := range syncers {
			res := syncOK(t, s)
			h := hosts[i]
			in := Cohort(h.Source.HostID) < 25 || h.Source.Hostname == canary
			v := desiredVersion(t, h)
			switch {
			case in && v != "v1.1.0", !in && v != "v1.0.0":
				t.Errorf("pass %d: %s (cohort %d) asks for %s", pass, h.Source.Hostname, res.Cohort, v)
			case !in && res.Result != status.FleetOutsideWave:
				t.Errorf("pass %d: %s result %s, want OutsideWave", pass, h.Source.Hostname, res.Result)
			case h.Source.Hostname == canary && res.Reason != ReasonCanary:
				t.Errorf("canary %s: reason %q", canary, res.Reason)
			}
			if v == "v1.1.0" {
				got = append(got, h.Source.Hostname)
			}
		}
		if pass == 0 {
			moved = got
			if len(got) < 2 || len(got) > 12 {
				t.Errorf("25%% of 20 hosts (and a canary) moved %d: %v", len(got), got)
			}
		} else if strings.Join(got, ",") != strings.Join(moved, ",") {
			t.Errorf("second pass moved %v, first %v", got, moved)
		}
	}
	r.commit(map[string]string{"fleet/desired.yaml": fleetFile("v1.1.0", 100, canary)})
	for i, s := range syncers {
		syncOK(t, s)
		if v := desiredVersion(t, hosts[i]); v != "v1.1.0" {
			t.Errorf("at 100%% %s asks for %s", hosts[i].Source.Hostname, v)
		}
	}
}

// TestOutsideWaveWithoutDesired: a host outside the wave that has no
// desired.yaml yet gets none.
func TestOutsideWaveWithoutDesired(t *testing.T) {
	t.Parallel()
	r := newFleetRepo(t)
	r.commit(map[string]string{"fleet/desired.yaml": fleetFile("v1.1.0", 0)})
	h := newHost(t, r.Bare, "web-1", "")
	res, err := h.syncer(t).Sync(context.Background())
	if err != nil || res.Result != status.FleetOutsideWave || !strings.Contains(res.Message, "cohort") {
		t.Fatalf("Sync = %+v, %v", res, err)
	}
	if _, err := h.syncer(t).Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := loadStatus(t, h); st.Applied != nil {
		t.Errorf("applied = %+v, want none", st.Applied)
	}
}
