package proc

import (
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseStat(t *testing.T) {
	// Fields 7 to 22 of a real line; field 22 (start time) is 987654.
	const tail = " 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615"
	tests := []struct {
		name string
		line string
		want Stat
		ok   bool
	}{
		{"plain", "4242 (server) S 1 4242 4200" + tail, Stat{State: 'S', PGRP: 4242, Session: 4200, StartTime: 987654}, true},
		// A command name with spaces and a ')' must not shift the fields.
		{"name with spaces and parens", "4242 (we ird) name) Z 1 17 18" + tail, Stat{State: 'Z', PGRP: 17, Session: 18, StartTime: 987654}, true},
		{"name that looks like fields", "7 (a) R 1 2 3) D 1 5 6" + tail, Stat{State: 'D', PGRP: 5, Session: 6, StartTime: 987654}, true},
		{"garbage", "garbage", Stat{}, false},
		{"empty", "", Stat{}, false},
		{"too few fields", "4242 (server) S 1 4242 4242 0", Stat{}, false},
		{"state not one letter", "4242 (server) SS 1 4242 4242" + tail, Stat{}, false},
		{"pgrp not a number", "4242 (server) S 1 x 4242" + tail, Stat{}, false},
		{"session not a number", "4242 (server) S 1 4242 x" + tail, Stat{}, false},
		{"start time negative", "4242 (server) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 -5 1000", Stat{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseStat([]byte(tt.line))
			if ok != tt.ok || got != tt.want {
				t.Errorf("parseStat(%q) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestStatDead(t *testing.T) {
	for state, want := range map[byte]bool{'R': false, 'S': false, 'D': false, 'T': false, 'I': false, 'Z': true, 'X': true} {
		if got := (Stat{State: state}).Dead(); got != want {
			t.Errorf("Stat{State: %q}.Dead() = %v, want %v", state, got, want)
		}
	}
}

func TestReadStatSelf(t *testing.T) {
	self, err := ReadStat(os.Getpid())
	if err != nil {
		t.Fatalf("ReadStat(self): %v", err)
	}
	sid, err := unix.Getsid(0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.ContainsRune("RSD", rune(self.State)) {
		// The main thread may be running or waiting, but it is neither
		// stopped nor dead.
		t.Errorf("State = %q, want R, S or D", self.State)
	}
	if self.Dead() {
		t.Error("Dead() = true for the running test")
	}
	if self.PGRP != unix.Getpgrp() {
		t.Errorf("PGRP = %d, want %d", self.PGRP, unix.Getpgrp())
	}
	if self.Session != sid {
		t.Errorf("Session = %d, want %d", self.Session, sid)
	}
	parent, err := ReadStat(os.Getppid())
	if err != nil {
		t.Fatalf("ReadStat(parent): %v", err)
	}
	if self.StartTime == 0 || self.StartTime < parent.StartTime {
		t.Errorf("StartTime = %d, want > 0 and not before the parent's %d", self.StartTime, parent.StartTime)
	}
	again, err := ReadStat(os.Getpid())
	if err != nil || again.StartTime != self.StartTime {
		t.Errorf("StartTime changed between reads: %d then %d (%v)", self.StartTime, again.StartTime, err)
	}
}

func TestReadStatNoProcess(t *testing.T) {
	// PID_MAX_LIMIT is 4194304 (2^22), so this pid cannot exist.
	const pid = 1<<22 + 1
	_, err := ReadStat(pid)
	if !errors.Is(err, ErrNoProcess) {
		t.Fatalf("ReadStat(%d) error = %v, want ErrNoProcess", pid, err)
	}
	if want := "cannot read /proc/4194305/stat: no such process"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}
