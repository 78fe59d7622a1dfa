package fleet

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
)

// Cohort is a host's place in every rollout, 0 to 99: the first eight
// bytes of the SHA-256 of hostID, big-endian, modulo 100. It is the same
// on every host and every run, so a wave of 25% is the same quarter of
// the fleet each time, and raising the percentage only adds hosts.
func Cohort(hostID string) int {
	sum := sha256.Sum256([]byte(hostID))
	return int(binary.BigEndian.Uint64(sum[:8]) % 100)
}

// Wave says whether the host named hostname with id hostID is in r's wave,
// and why: canaries always are; the others when their cohort is below
// the percentage. A nil rollout includes every host.
func (r *Rollout) Wave(hostname, hostID string) (in, canary bool) {
	if r == nil {
		return true, false
	}
	if slices.Contains(r.Canaries, hostname) {
		return true, true
	}
	return r.Percent != nil && Cohort(hostID) < *r.Percent, false
}
