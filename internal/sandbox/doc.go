// Package sandbox builds real git repositories of the example app for the
// demo and the tests: a bare "origin" holding tagged releases, and installs
// cloned from it the way an installer would.
//
// Everything goes through the git CLI with a pinned identity, fixed commit
// dates and the user's global and system git configuration switched off, so
// the same releases always produce the same commit ids, whatever the
// machine. The code under test talks to these repositories through go-git;
// building them with the CLI keeps the fixtures independent of it.
//
// A typical test:
//
//	origin, err := sandbox.NewOrigin(ctx, filepath.Join(t.TempDir(), "origin.git"), sandbox.DefaultReleases())
//	...
//	err = sandbox.Clone(ctx, origin, installDir, "v1.0.0")
//	...
//	err = sandbox.AddRelease(ctx, origin, sandbox.BrokenBackend("v1.3.0"))
//
// fleet.go puts a fleet on one machine: a fleet repo (FleetRepo) served
// over git's smart HTTP with per-host traffic counters (GitServer), and
// hosts each with its own install, ports, API token and running daemon
// following it (StartFleet).
package sandbox
