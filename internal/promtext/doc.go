// Package promtext serves metrics to Prometheus without a client library:
// it writes the text exposition format (version 0.0.4, which every
// Prometheus and every agent that scrapes Prometheus understands), keeps
// counters, gauges and histograms by label values, and writes the Go
// runtime's (go_*) and the process's (process_*) standard metrics.
//
// It exists because of what the daemon costs while it idles: the
// Prometheus client library and the protobuf runtime it needs are about
// 2.4 MB of the daemon's binary, and an idle daemon keeps most of its
// binary's pages resident. The daemon exports a few dozen series and
// never needs the protobuf format, OpenMetrics or exemplars.
//
// A scrape builds the whole answer in memory with a Writer, from the
// metrics' current values, then sends it: an answer is never cut short by
// a metric that cannot be read (it is left out instead).
package promtext
