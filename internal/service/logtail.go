package service

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"
)

// Bounds of LogTail: enough for a stack trace's top or the error an app
// prints before it exits, little enough for an error message.
const (
	logTailBytes = 4 << 10
	logTailLines = 20
)

// LogTailer is implemented by a Manager that can show what the backend
// wrote last, such as Exec.
type LogTailer interface {
	// LogTail returns the end of the backend's output; see Exec.LogTail.
	LogTail() (string, error)
}

// LogTail returns the last lines the backend this Exec last started wrote
// to LogFile: at most logTailLines lines and logTailBytes bytes of that
// run's output, without the final newline, as valid UTF-8 (invalid bytes
// become U+FFFD); "" when the run wrote nothing. A line cut by the byte
// bound starts with "...". It reads the file only, so it works while the
// backend runs and after it exited, even after Stop.
//
// Before this Exec has started a backend (one adopted from an earlier run
// of the daemon, say), the run's start is unknown and the tail of the
// whole log is returned. A log that shrank since the start (rotated by
// copytruncate) is read from its beginning.
//
// Errors: LogFile cannot be opened or read.
func (e *Exec) LogTail() (string, error) {
	e.mu.Lock()
	from := e.logStart
	e.mu.Unlock()
	f, err := os.Open(e.cfg.LogFile)
	if err != nil {
		return "", fmt.Errorf("cannot read backend log: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("cannot read backend log: %w", err)
	}
	size := info.Size()
	if from < 0 || from > size {
		from = 0
	}
	start := max(from, size-logTailBytes)
	buf := make([]byte, size-start)
	if _, err := f.ReadAt(buf, start); err != nil && err != io.EOF {
		return "", fmt.Errorf("cannot read backend log: %w", err)
	}
	midLine := false
	if start > from {
		// The bound cut the run's output: is it at a line start?
		var before [1]byte
		if _, err := f.ReadAt(before[:], start-1); err != nil {
			return "", fmt.Errorf("cannot read backend log: %w", err)
		}
		midLine = before[0] != '\n'
	}
	return lastLines(buf, midLine), nil
}

// lastLines returns the last logTailLines lines of b without the final
// newline, as valid UTF-8. midLine means b starts inside a line, which is
// then marked "...".
func lastLines(b []byte, midLine bool) string {
	b = bytes.TrimRight(b, "\n")
	if midLine {
		for len(b) > 0 && !utf8.RuneStart(b[0]) {
			b = b[1:] // the cut split a character
		}
	}
	if n := bytes.Count(b, []byte{'\n'}); n >= logTailLines {
		for range n - logTailLines + 1 {
			b = b[bytes.IndexByte(b, '\n')+1:]
		}
		midLine = false
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	if midLine && s != "" {
		s = "..." + s
	}
	return s
}

// ExitDetail says, for an error message, what the backend wrote before it
// exited: "its log ends with:\n" and the lines of LogTail. It is made for
// health.Gate.ExitDetail and is called once the backend is gone. It
// returns "" when m cannot show its output (it is not a LogTailer), and
// says so when the log cannot be read or is empty: the reason must not
// stop the error from being reported.
func ExitDetail(m Manager) string {
	t, ok := m.(LogTailer)
	if !ok {
		return ""
	}
	tail, err := t.LogTail()
	switch {
	case err != nil:
		return err.Error()
	case tail == "":
		return "it wrote nothing to its log"
	}
	return "its log ends with:\n" + tail
}
