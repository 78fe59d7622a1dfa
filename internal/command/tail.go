package command

import (
	"io"
	"sync"
	"unicode/utf8"
)

// tailSize is how much of the combined output ExitError.Tail keeps: enough
// for a compiler's last errors, small enough for a status message.
const tailSize = 4 << 10

// sink receives the combined output. It forwards every chunk to the
// caller's writer and keeps the last tailSize bytes.
//
// Errors from the caller's writer are remembered but never returned to the
// copier: if they were, the copier would stop reading, the pipe would fill
// and the command would block forever on a write, so a broken log
// destination would hang a build.
type sink struct {
	mu   sync.Mutex
	out  io.Writer
	buf  []byte
	werr error
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out != nil && s.werr == nil {
		if _, err := s.out.Write(p); err != nil {
			s.werr = err
		}
	}
	s.buf = append(s.buf, p...)
	if len(s.buf) > 2*tailSize {
		s.buf = append(s.buf[:0], s.buf[len(s.buf)-tailSize:]...)
	}
	return len(p), nil
}

// tail returns the last tailSize bytes, starting at a rune boundary so the
// text stays valid UTF-8 when the output was.
func (s *sink) tail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buf
	if len(b) > tailSize {
		b = b[len(b)-tailSize:]
		for i := 0; i < utf8.UTFMax && len(b) > 0 && !utf8.RuneStart(b[0]); i++ {
			b = b[1:]
		}
	}
	return string(b)
}
