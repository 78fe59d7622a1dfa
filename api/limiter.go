package api

import (
	"sync"
	"time"
)

// failuresPerMinute is how many wrong tokens a client may present within
// any minute; the next one within that minute is refused unchecked.
const (
	failuresPerMinute = 10
	failureWindow     = time.Minute
)

// maxClients bounds the clients the limiter remembers; past it, clients
// without a failure in the last minute are forgotten, and if that is not
// enough, new clients share one record.
const maxClients = 1024

// overflowClient is the shared record of clients beyond maxClients.
const overflowClient = "(overflow)"

// failureLimiter remembers, per client, the times of its failed
// authentication attempts within the last failureWindow (a sliding
// window): a client with failuresPerMinute of them is blocked until the
// oldest is a window old. Safe for concurrent use.
type failureLimiter struct {
	mu      sync.Mutex
	clients map[string][]time.Time // oldest first, at most failuresPerMinute
}

func newFailureLimiter() *failureLimiter {
	return &failureLimiter{clients: make(map[string][]time.Time)}
}

// recent drops the failures of client older than the window at now and
// returns the rest.
func (l *failureLimiter) recent(client string, now time.Time) []time.Time {
	times := l.clients[client]
	i := 0
	for i < len(times) && !times[i].After(now.Add(-failureWindow)) {
		i++
	}
	times = times[i:]
	if len(times) == 0 {
		delete(l.clients, client)
		return nil
	}
	l.clients[client] = times
	return times
}

// key is client, or overflowClient when the limiter is full and does not
// know client.
func (l *failureLimiter) key(client string) string {
	if _, ok := l.clients[client]; !ok && len(l.clients) >= maxClients {
		return overflowClient
	}
	return client
}

// blocked reports whether client has used up its attempts at now, and
// how long until one comes back.
func (l *failureLimiter) blocked(client string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	times := l.recent(l.key(client), now)
	if len(times) < failuresPerMinute {
		return 0, false
	}
	return times[0].Add(failureWindow).Sub(now), true
}

// fail records a failed attempt of client at now.
func (l *failureLimiter) fail(client string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.clients[client]; !ok && len(l.clients) >= maxClients {
		for c := range l.clients {
			l.recent(c, now) // forgets clients without a recent failure
		}
	}
	client = l.key(client)
	times := append(l.recent(client, now), now)
	if len(times) > failuresPerMinute {
		times = times[len(times)-failuresPerMinute:]
	}
	l.clients[client] = times
}
