package api

import (
	"fmt"
	"testing"
	"time"
)

// TestLimiterStaysBounded: many failing clients share one record past
// maxClients instead of growing the map, and still get limited.
func TestLimiterStaysBounded(t *testing.T) {
	l := newFailureLimiter()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range maxClients + 50 {
		l.fail(fmt.Sprintf("10.0.%d.%d", i/256, i%256), now)
	}
	if len(l.clients) > maxClients+1 {
		t.Errorf("%d clients remembered, want at most %d", len(l.clients), maxClients+1)
	}
	if _, blocked := l.blocked("192.0.2.1", now); !blocked {
		t.Error("a new client past the bound is not limited with the overflow")
	}
	// A minute later, the old failures are forgotten and new clients get
	// their own record again.
	later := now.Add(failureWindow + time.Second)
	l.fail("192.0.2.1", later)
	if _, ok := l.clients["192.0.2.1"]; !ok || len(l.clients) != 1 {
		t.Errorf("after a minute: %d clients, own record %t", len(l.clients), ok)
	}
}
