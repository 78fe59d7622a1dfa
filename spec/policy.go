package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	// Time zones by name must resolve on minimal hosts (containers,
	// distroless images) that ship no zoneinfo: the database is embedded.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
)

// Sentinel errors of the policy fields, returned (wrapped) by Validate.
var (
	ErrInvalidHold          = errors.New("spec.hold is invalid")
	ErrInvalidWindow        = errors.New("spec.windows has an invalid window")
	ErrInvalidMinReleaseAge = errors.New("spec.minReleaseAge is invalid")
)

// Hold stops updates until a time: nothing newer is installed while it
// lasts. An update already running finishes, and the running version is
// still started and repaired.
type Hold struct {
	// Until is when the hold ends (RFC 3339, e.g. 2026-12-24T00:00:00Z);
	// required. A hold in the past holds nothing.
	Until time.Time `json:"until"`
	// Reason is shown in status and plan, for the people who wonder why.
	Reason string `json:"reason,omitempty"`
}

// UnmarshalJSON reads a hold, saying which field is wrong and what it
// should look like when until is not a time.
func (h *Hold) UnmarshalJSON(b []byte) error {
	var raw struct {
		Until  *string `json:"until"`
		Reason string  `json:"reason,omitempty"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return fmt.Errorf("spec.hold: %w", err)
	}
	*h = Hold{Reason: raw.Reason}
	if raw.Until != nil {
		t, err := time.Parse(time.RFC3339, *raw.Until)
		if err != nil {
			return fmt.Errorf("spec.hold.until %q is not a time; write RFC 3339 such as \"2026-12-24T00:00:00Z\"", *raw.Until)
		}
		h.Until = t
	}
	return nil
}

// Window is a maintenance window: an update may start only while one of
// spec.windows is open. It opens at every time Schedule names and stays
// open for Duration; an update that started inside it finishes even when
// it outlasts it.
type Window struct {
	// Schedule is a standard five-field cron expression (minute hour
	// day-of-month month day-of-week, e.g. "0 2 * * 6" for Saturdays at
	// 02:00) or a descriptor such as @daily; read in TimeZone.
	Schedule string `json:"schedule"`
	// Duration is how long the window stays open, a Go duration ("4h").
	Duration Duration `json:"duration"`
	// TimeZone is the IANA zone Schedule is read in (e.g. Europe/Berlin);
	// default UTC. "Local" is the host's zone.
	TimeZone string `json:"timeZone,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("72h",
// "30m").
type Duration struct{ time.Duration }

// UnmarshalJSON accepts a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a string such as \"72h\" or \"30m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.Duration.String()) }

// cronParser reads the standard five fields and the @ descriptors.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Parse returns the window's schedule and zone. Validate has checked both,
// so for a loaded spec it fails only on a zone removed from the system.
func (w Window) Parse() (cron.Schedule, *time.Location, error) {
	sched, err := parseSchedule(w.Schedule)
	if err != nil {
		return nil, nil, err
	}
	loc, err := loadZone(w.TimeZone)
	if err != nil {
		return nil, nil, err
	}
	return sched, loc, nil
}

// parseSchedule reads a window's schedule: five cron fields or an @
// descriptor, without a zone of its own.
func parseSchedule(schedule string) (cron.Schedule, error) {
	s := strings.TrimSpace(schedule)
	if strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ=") {
		return nil, errors.New("a zone inside schedule; set timeZone instead")
	}
	sched, err := cronParser.Parse(s)
	if err != nil {
		return nil, err
	}
	// @every fires relative to when it is asked, not at fixed times: it
	// cannot say when a window opened.
	if _, ok := sched.(*cron.SpecSchedule); !ok {
		return nil, errors.New("@every repeats from whenever it is read, not at fixed times")
	}
	return sched, nil
}

// loadZone loads a window's time zone, UTC when none is named.
func loadZone(zone string) (*time.Location, error) {
	if zone == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", zone)
	}
	return loc, nil
}

// OpenAt reports whether w is open at now: it opened at start (at or
// before now) and closes at start+Duration. When closed, next is when it
// opens next (zero if the schedule never fires again). Errors are
// Parse's.
func (w Window) OpenAt(now time.Time) (open bool, start, next time.Time, err error) {
	sched, loc, err := w.Parse()
	if err != nil {
		return false, time.Time{}, time.Time{}, err
	}
	local := now.In(loc)
	// The first opening after now-Duration is at or before now exactly
	// when a window that is still open began.
	if s := sched.Next(local.Add(-w.Duration.Duration)); !s.IsZero() && !s.After(local) {
		return true, s, time.Time{}, nil
	}
	return false, time.Time{}, sched.Next(local), nil
}

// maxWindow bounds a window's duration: longer than a year is a hold, not
// a window.
const maxWindow = 366 * 24 * time.Hour

// validatePolicy checks hold, windows and minReleaseAge.
func (s Spec) validatePolicy() error {
	if h := s.Hold; h != nil && h.Until.IsZero() {
		return fmt.Errorf("%w: spec.hold.until is required: the time the hold ends, RFC 3339 such as \"2026-12-24T00:00:00Z\"", ErrInvalidHold)
	}
	for i, w := range s.Windows {
		field := fmt.Sprintf("spec.windows[%d]", i)
		if strings.TrimSpace(w.Schedule) == "" {
			return fmt.Errorf("%w: %s.schedule is required: a cron expression such as \"0 2 * * 6\" (Saturdays at 02:00)", ErrInvalidWindow, field)
		}
		if d := w.Duration.Duration; d <= 0 || d > maxWindow {
			return fmt.Errorf("%w: %s.duration %q must be positive and at most a year, such as \"4h\"", ErrInvalidWindow, field, d)
		}
		sched, err := parseSchedule(w.Schedule)
		if err != nil {
			return fmt.Errorf("%w: %s.schedule %q: %v; write five cron fields (minute hour day-of-month month day-of-week) such as \"0 2 * * 6\"", ErrInvalidWindow, field, w.Schedule, err)
		}
		loc, err := loadZone(w.TimeZone)
		if err != nil {
			return fmt.Errorf("%w: %s.timeZone: %v; use an IANA zone such as Europe/Berlin, or leave it out for UTC", ErrInvalidWindow, field, err)
		}
		// A schedule such as "0 0 30 2 *" never fires: the host would
		// never update. robfig/cron looks five years ahead.
		if sched.Next(windowCheckFrom.In(loc)).IsZero() {
			return fmt.Errorf("%w: %s.schedule %q never fires; name a day that exists", ErrInvalidWindow, field, w.Schedule)
		}
	}
	if a := s.MinReleaseAge.Duration; a < 0 {
		return fmt.Errorf("%w: %q is negative; write a duration such as \"72h\", or leave it out", ErrInvalidMinReleaseAge, a)
	}
	return nil
}

// windowCheckFrom is a fixed time to check that a schedule fires at all;
// a leap day (29 February) fires within five years of any time.
var windowCheckFrom = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
