// Package events is the live feed of what the daemon does: the steps of an
// update as they start and end, the build's output, the conditions of
// status.yaml as they change and how each operation ended. The reconciler
// publishes to a Broker; the API streams it to the page as Server-Sent
// Events (Broker.Handler).
//
// The feed is a view, never a record: status.yaml stays the truth. A
// Broker keeps the newest events in a ring (1024 by default) so that a
// client that reconnects with the id of the last event it saw
// (Last-Event-ID) gets exactly what it missed, and a page opened in the
// middle of an update can draw it from its first step. A client that asks
// for events the ring no longer holds is told so (a "gap" event) and
// should read the status again.
//
// Publishing never waits for a reader. A subscriber that falls behind by
// more than its buffer is dropped: its stream ends, the browser's
// EventSource reconnects with Last-Event-ID and is served from the ring.
// A slow browser therefore costs it a reconnect, never a stalled update.
//
// The package imports nothing of the updater's: the reconciler imports it,
// not the other way round.
package events
