package command

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogFileCapsHugeOutput: a build that prints 100 MB leaves a log of
// about 2 MiB on disk, which still ends with the build's real last line,
// and the error's tail (what the status message shows) is unaffected.
func TestLogFileCapsHugeOutput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "build-backend.log")
	log, err := CreateLog(path)
	if err != nil {
		t.Fatal(err)
	}
	const script = `yes "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ" | head -c 100000000; echo; echo "the real last line"; exit 3`
	err = Run(context.Background(), Cmd{Argv: []string{"sh", "-c", script}, Output: log})
	if cerr := log.Close(); cerr != nil {
		t.Fatalf("Close: %v", cerr)
	}
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 3 {
		t.Fatalf("Run error = %v, want exit code 3", err)
	}
	if !strings.HasSuffix(ee.Tail, "the real last line\n") {
		t.Errorf("Tail does not end with the last line: ...%q", ee.Tail[max(0, len(ee.Tail)-80):])
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	const limit = 2<<20 + 200 // head + tail + the marker line
	if fi.Size() > limit {
		t.Fatalf("log is %d bytes, want at most %d", fi.Size(), limit)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(data, []byte("\nthe real last line\n")) {
		t.Errorf("log does not end with the last line: ...%q", data[max(0, len(data)-80):])
	}
	if !bytes.HasPrefix(data, []byte("0123456789 abc")) {
		t.Errorf("log does not start with the first line: %q...", data[:min(len(data), 40)])
	}
	if !bytes.Contains(data, []byte(" bytes omitted ...\n")) {
		t.Errorf("log has no omission marker")
	}
}

// TestRunFindsProgramOnEnvPATH: a program is looked up in the PATH the
// command gets, which a build's environment may set, not the daemon's.
func TestRunFindsProgramOnEnvPATH(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello-4711"), []byte("#!/bin/sh\necho \"hello from $PATH\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := newOutput("")
	path := dir + ":/usr/bin:/bin"
	err := Run(context.Background(), Cmd{Argv: []string{"hello-4711"}, Env: []string{"PATH=/nowhere", "PATH=" + path}, Output: out})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got, want := out.String(), "hello from "+path+"\n"; got != want {
		t.Errorf("output = %q, want %q", got, want)
	}
}

// TestLogFileKeepsHeadAndTail checks the layout with small limits.
func TestLogFileKeepsHeadAndTail(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{"fits", []string{"ab\n", "cd\n"}, "ab\ncd\n"},
		{"fits exactly", []string{"0123456789", "abcdefghij"}, "0123456789abcdefghij"},
		{"cut at a line", []string{"head-line\n", "one\n", "two\n", "three\n", "four\n", "five\n", "last\n"},
			"head-line\n... 19 bytes omitted ...\nfive\nlast\n"},
		{"cut mid-line head", []string{"0123456789ABC", strings.Repeat("x", 40), "\nend\n"},
			"0123456789\n... 44 bytes omitted ...\nend\n"},
		{"no newline in the tail", []string{"0123456789", strings.Repeat("y", 100)},
			"0123456789\n... 90 bytes omitted ...\n" + strings.Repeat("y", 10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log")
			l, err := createLog(path, 10, 10)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.writes {
				if n, err := l.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Size() > 10+2*10+40 {
					t.Errorf("log grew to %d bytes while writing", fi.Size())
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("log = %q, want %q", got, tt.want)
			}
		})
	}
}
