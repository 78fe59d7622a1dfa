// Package status defines status.yaml, the updater's record of what it
// observed on the host and what it did: the running version, the last known
// good revision, the operation in flight (the journal a restarted daemon
// resumes from), kstatus-style conditions, a bounded history and the
// versions that failed.
//
// Only the daemon writes status.yaml, always atomically. Everything in it
// is either observed (and can be observed again) or a record of work; a lost
// or corrupt file is rebuilt by the reconciler from the host.
package status
