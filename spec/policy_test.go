package spec

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestPolicyFieldsLoad: hold, windows and minReleaseAge load as written,
// the hold's time in UTC, a time written without quotes too.
func TestPolicyFieldsLoad(t *testing.T) {
	d, err := Parse("desired.yaml", []byte(fuzzHead+`spec:
  version: latest
  hold: {until: "2026-12-24T00:00:00+01:00", reason: " change freeze "}
  windows:
  - {schedule: "0 2 * * 6", duration: 4h, timeZone: Europe/Berlin}
  - schedule: "@daily"
    duration: 30m
  minReleaseAge: 72h
`))
	if err != nil {
		t.Fatal(err)
	}
	sp := d.Spec
	if want := time.Date(2026, 12, 23, 23, 0, 0, 0, time.UTC); sp.Hold == nil || !sp.Hold.Until.Equal(want) || sp.Hold.Until.Location() != time.UTC || sp.Hold.Reason != "change freeze" {
		t.Errorf("hold = %+v", sp.Hold)
	}
	if len(sp.Windows) != 2 || sp.Windows[0].Duration.Duration != 4*time.Hour || sp.Windows[0].TimeZone != "Europe/Berlin" || sp.Windows[1].Schedule != "@daily" {
		t.Errorf("windows = %+v", sp.Windows)
	}
	if sp.MinReleaseAge.Duration != 72*time.Hour {
		t.Errorf("minReleaseAge = %v", sp.MinReleaseAge)
	}
	d2, err := Parse("desired.yaml", []byte(fuzzHead+"spec:\n  version: v1.0.0\n  hold:\n    until: 2026-12-24T00:00:00Z\n"))
	if err != nil || !d2.Spec.Hold.Until.Equal(time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("unquoted time: %+v, %v", d2, err)
	}
	// No policy: the spec encodes (and so digests) as before the fields
	// existed, so an upgraded updater does not see desired.yaml as changed.
	if b, err := json.Marshal(New("v1.0.0").Spec); err != nil || string(b) != `{"version":"v1.0.0","channel":"stable"}` {
		t.Errorf("an empty policy shows in the spec: %s %v", b, err)
	}
}

// TestPolicyErrorsNameTheFieldAndTheFix: each invalid policy is refused
// with its sentinel, the field's path and a way out.
func TestPolicyErrorsNameTheFieldAndTheFix(t *testing.T) {
	tests := []struct {
		name, spec string
		want       error
		says       []string
	}{
		{"hold without until", "hold: {reason: freeze}", ErrInvalidHold, []string{"spec.hold.until is required", "RFC 3339"}},
		{"hold until not a time", "hold: {until: tomorrow}", ErrInvalidYAML, []string{"until"}},
		{"no schedule", "windows: [{duration: 1h}]", ErrInvalidWindow, []string{"spec.windows[0].schedule is required", "0 2 * * 6"}},
		{"bad cron", "windows: [{schedule: \"0 2 * * *\", duration: 1h}, {schedule: \"61 * * * *\", duration: 1h}]", ErrInvalidWindow, []string{"spec.windows[1].schedule", "61", "five cron fields"}},
		{"six fields", "windows: [{schedule: \"0 0 2 * * *\", duration: 1h}]", ErrInvalidWindow, []string{"spec.windows[0].schedule"}},
		{"@every", "windows: [{schedule: \"@every 1h\", duration: 1h}]", ErrInvalidWindow, []string{"spec.windows[0].schedule", "fixed times"}},
		{"zone inside schedule", "windows: [{schedule: \"CRON_TZ=Europe/Berlin 0 2 * * *\", duration: 1h}]", ErrInvalidWindow, []string{"spec.windows[0].schedule", "timeZone"}},
		{"never fires", "windows: [{schedule: \"0 0 30 2 *\", duration: 1h}]", ErrInvalidWindow, []string{"never fires"}},
		{"no duration", "windows: [{schedule: \"0 2 * * *\"}]", ErrInvalidWindow, []string{"spec.windows[0].duration", "4h"}},
		{"duration not a string", "windows: [{schedule: \"0 2 * * *\", duration: 3600}]", ErrInvalidYAML, []string{"72h"}},
		{"unknown zone", "windows: [{schedule: \"0 2 * * *\", duration: 1h, timeZone: Mars/Olympus}]", ErrInvalidWindow, []string{"spec.windows[0].timeZone", "Mars/Olympus", "Europe/Berlin"}},
		{"negative age", "minReleaseAge: -1h", ErrInvalidMinReleaseAge, []string{"spec.minReleaseAge", "72h"}},
		{"days are not a Go duration", "minReleaseAge: 3d", ErrInvalidYAML, []string{"3d"}},
		{"unknown policy field", "windows: [{schedule: \"0 2 * * *\", duration: 1h, zone: UTC}]", ErrInvalidYAML, []string{"zone"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("desired.yaml", []byte(fuzzHead+"spec:\n  version: latest\n  "+tt.spec+"\n"))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			for _, s := range append(tt.says, "desired.yaml") {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%v does not say %q", err, s)
				}
			}
		})
	}
}

// TestWindowOpenAt: a window is open from each time its schedule names
// for its duration, in its zone (across a change of daylight saving
// time), and says when it opens next while closed.
func TestWindowOpenAt(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// Saturdays 02:00-06:00 Berlin time.
	w := Window{Schedule: "0 2 * * 6", Duration: Duration{4 * time.Hour}, TimeZone: "Europe/Berlin"}
	sat := time.Date(2026, 12, 5, 2, 0, 0, 0, berlin) // a Saturday, winter: UTC+1
	tests := []struct {
		now        time.Time
		open       bool
		start, nxt time.Time
	}{
		{sat.Add(-time.Second), false, time.Time{}, sat},
		{sat, true, sat, time.Time{}},
		{sat.Add(4*time.Hour - time.Second), true, sat, time.Time{}},
		{sat.Add(4 * time.Hour), false, time.Time{}, sat.AddDate(0, 0, 7)},
		// The same wall clock in summer is an hour earlier in UTC.
		{time.Date(2026, 7, 4, 0, 30, 0, 0, time.UTC), true, time.Date(2026, 7, 4, 2, 0, 0, 0, berlin), time.Time{}},
	}
	for _, tt := range tests {
		open, start, next, err := w.OpenAt(tt.now.UTC())
		if err != nil {
			t.Fatal(err)
		}
		if open != tt.open || !start.Equal(tt.start) || !next.Equal(tt.nxt) {
			t.Errorf("OpenAt(%v) = %t %v %v, want %t %v %v", tt.now.UTC(), open, start, next, tt.open, tt.start, tt.nxt)
		}
	}
}
