package command

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"unicode/utf8"
)

// What a LogFile keeps of a command's output: enough of the start for the
// command's own account of what it does, enough of the end for the errors
// that ended it.
const (
	LogHead = 1 << 20 // bytes kept from the start of the output
	LogTail = 1 << 20 // bytes kept from the end of the output
)

// LogFile is a command's log on disk, capped so that a command that prints
// without end (a build stuck in a loop, a verbose flag left on) cannot fill
// the disk that the install, its backups and the next build need.
//
// It keeps the first LogHead bytes of what is written and the last LogTail
// bytes, with one marker line between them:
//
//	... 98765432 bytes omitted ...
//
// The kept end starts at a line boundary when it holds one, so it reads as
// whole lines. Output is appended as it arrives, so a human can follow the
// log while the command runs; each time the part past the head grows
// beyond 2*LogTail, the file is cut back to the head, the marker and the
// last LogTail bytes. The file is therefore never larger than about
// LogHead+2*LogTail (3 MiB), and after Close at most LogHead+LogTail plus
// the marker line, ending with the real last bytes written. Output that
// fits LogHead+LogTail is kept whole, without a marker.
//
// It is safe for concurrent use. Write returns the file's error, if any;
// Run ignores an Output's errors, so a broken log does not stall a build.
type LogFile struct {
	mu         sync.Mutex
	f          *os.File
	head, tail int

	headLeft  int   // head bytes still to be written
	headSize  int64 // head bytes in the file
	headLast  byte  // the head's last byte
	total     int64 // bytes received past the head
	recent    []byte
	afterHead int64 // bytes in the file past the head
	cutAt     int64 // total at the last cut, -1 before the first
	err       error
}

// CreateLog creates (or truncates) the log at path, whose folder must
// exist, keeping LogHead and LogTail bytes. The caller must Close it.
func CreateLog(path string) (*LogFile, error) {
	return createLog(path, LogHead, LogTail)
}

func createLog(path string, head, tail int) (*LogFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot create log: %w", err)
	}
	return &LogFile{f: f, head: head, tail: tail, headLeft: head, cutAt: -1}, nil
}

// Write appends p to the log, cutting the middle out when the log has
// grown past its limit. It reports len(p) written unless the file failed.
func (l *LogFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return 0, l.err
	}
	n := len(p)
	if l.headLeft > 0 {
		h := min(len(p), l.headLeft)
		if _, err := l.f.Write(p[:h]); err != nil {
			l.err = fmt.Errorf("cannot write log: %w", err)
			return 0, l.err
		}
		if h > 0 {
			l.headLast = p[h-1]
		}
		l.headLeft -= h
		l.headSize += int64(h)
		p = p[h:]
	}
	if len(p) == 0 {
		return n, nil
	}
	if _, err := l.f.Write(p); err != nil {
		l.err = fmt.Errorf("cannot write log: %w", err)
		return 0, l.err
	}
	l.total += int64(len(p))
	l.afterHead += int64(len(p))
	l.recent = append(l.recent, p...)
	if len(l.recent) > 2*l.tail {
		// One byte more than the tail: cut needs the byte before it.
		l.recent = append(l.recent[:0], l.recent[len(l.recent)-l.tail-1:]...)
	}
	if l.afterHead > int64(2*l.tail) {
		if err := l.cut(); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// cut rewrites the part past the head as the marker and the last l.tail
// bytes.
func (l *LogFile) cut() error {
	keep := l.recent
	if len(keep) > l.tail {
		// From the byte before the window, so a window that starts a
		// line keeps that line.
		ext := keep[len(keep)-l.tail-1:]
		if i := bytes.IndexByte(ext, '\n'); i >= 0 && i+1 < len(ext) {
			keep = ext[i+1:]
		} else {
			keep = ext[1:]
			for len(keep) > 0 && !utf8.RuneStart(keep[0]) {
				keep = keep[1:]
			}
		}
	}
	marker := fmt.Sprintf("... %d bytes omitted ...\n", l.total-int64(len(keep)))
	if l.headLast != '\n' {
		marker = "\n" + marker // the head ends mid-line
	}
	if err := l.f.Truncate(l.headSize); err != nil {
		l.err = fmt.Errorf("cannot cut log: %w", err)
		return l.err
	}
	// O_APPEND: both writes land right after the head.
	if _, err := l.f.Write(append([]byte(marker), keep...)); err != nil {
		l.err = fmt.Errorf("cannot cut log: %w", err)
		return l.err
	}
	l.afterHead = int64(len(marker) + len(keep))
	l.cutAt = l.total
	return nil
}

// Close cuts the log to its final size (head, marker, last LogTail bytes)
// if more than that was written, and closes the file. It returns the
// first error the log met.
func (l *LogFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil && l.total > int64(l.tail) && l.cutAt != l.total {
		_ = l.cut()
	}
	if err := l.f.Close(); err != nil && l.err == nil {
		l.err = fmt.Errorf("cannot close log: %w", err)
	}
	return l.err
}
