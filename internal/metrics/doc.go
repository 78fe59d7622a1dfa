// Package metrics is the daemon's Prometheus exporter: what it serves at
// /metrics on the API listener (package api mounts Collector.Handler
// behind the API token), in the text exposition format, with metric names
// better_paas_updater_* (see README, "Prometheus metrics").
//
// Two kinds of metrics come from two places, so neither the reconciler nor
// the status file learns anything about Prometheus:
//
//   - What happens (outcomes, step and reconcile durations, backup
//     durations) comes from the reconciler's events: a Collector is a
//     reconciler.Publisher that observes every event and hands it on to
//     the broker it wraps. Counters start at zero when the daemon starts,
//     as Prometheus expects of counters.
//   - What is (the running version, failed versions, the operation in
//     flight, conditions, a policy holding an update back, the last sync
//     of the fleet repo and a paused rollout, the newest backup, the
//     release cache's age) is
//     read at scrape time from status.yaml, the backup manifests and the
//     release cache: files that are only ever replaced whole, so a scrape
//     never sees one half written, and a metric never disagrees with
//     `better-paas-updater status`.
//
// Each Collector holds its own metrics: nothing is registered globally.
// The text format is written by package promtext, not by the Prometheus
// client library, whose code (with protobuf's) would make up a seventh of
// the daemon's binary, most of it resident while the daemon idles; the
// tests read every scrape back with the client library's parser and
// linter.
package metrics
