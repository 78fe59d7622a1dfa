// Package selfupdate replaces the running updater binary with a verified
// newer release of itself and proves the new one works, or puts the old
// one back.
//
// One pass (Updater.Once), run by the daemon every selfUpdate.interval:
//
//  1. Check: list selfUpdate.repo's GitHub releases and pick the newest
//     stable version above the running one that has not failed here
//     (status.yaml's updater.failedVersions).
//  2. Stage: download better-paas-updater_<v>_<os>_<arch>.tar.gz, verify it
//     against SHA256SUMS and its minisign signature (selfUpdate.publicKey,
//     the version in the trusted comment), unpack it and copy
//     <stem>/better-paas-updater beside the running binary as <exe>.new.
//  3. Verify: `<exe>.new version -o json` must report the tag, and a trial
//     `<exe>.new plan -o json --config <updater.yaml>` (read-only) must
//     exit 0. When it does not, the running binary's own plan is run too:
//     if that fails as well, the host is at fault, not the release, and the
//     pass is retried later instead of blaming the version.
//  4. Hand over, only while status.yaml shows no operation in flight and
//     under the daemon's status lock: write the marker
//     <stateDir>/self-update.json and return a Restart that the run command
//     carries out after its deferred clean-ups (lock, API): it execs
//     <exe>.new in place of itself (same PID, so systemd and the lock
//     file's pid stay right).
//  5. Commit (Updater.Reconciled in the new process): once the new updater
//     has reconciled once without error it keeps the old binary as
//     <exe>.bak (a hard link), renames <exe>.new over <exe>, records
//     Succeeded and removes the marker.
//
// The binary at <exe> is replaced only after the new updater proved
// itself, so whatever the new one does, a restart runs a binary that
// worked. Which layer catches what:
//
//   - a tampered or unsigned archive, another release's SHA256SUMS, a
//     binary reporting another version: Stage; recorded Failed, never
//     tried again.
//   - a binary that exits at start or cannot plan on this host (a crash,
//     a config it cannot load): the trial; recorded Failed; the daemon
//     never stopped.
//   - a binary that passes the trial but fails as the daemon: when its
//     reconciles fail (MaxTrialErrors in a row, Reconciled) or `run`
//     stops on an error of its own before it reconciled (Abandon), it
//     records RolledBack, removes itself and execs the old binary; when
//     it exits or crashes instead (its own code never runs, or runs no
//     further: updater.yaml it cannot load, a panic), the supervisor
//     (systemd's Restart=) starts <exe> again, which is still the old
//     binary: Updater.Resume finds the marker of a trial that did not
//     finish and records RolledBack. Without a supervisor nothing starts
//     the daemon again: run it under systemd with Restart=always or
//     on-failure. A stop (SIGTERM) during a trial leaves the marker, so
//     the next start, of the old binary, counts the trial as failed.
//
// The daemon's lock is released before the exec and taken again by the
// new process; a `run --once` that takes it in that moment makes the new
// daemon exit, and its restart is then counted as a failed trial.
package selfupdate
