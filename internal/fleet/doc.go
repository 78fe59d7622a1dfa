// Package fleet writes desired.yaml from a fleet repo (desiredFrom.git in
// updater.yaml): GitOps without a server. It is one more writer of the
// file, beside people, Ansible and the dashboard; the reconciler reads
// desired.yaml as always and does not know where it came from.
//
// A sync (Syncer.Sync; Run does one at start, every interval and on
// wake, WebhookHandler on a push):
//
//  1. fetches the branch into <stateDir>/fleet/repo, a bare clone that
//     is only ever fetched into: the objects it lacks, never shallow,
//     never a fresh clone, no work tree;
//  2. checks the branch's commit is signed by a listed key, when
//     desiredFrom.git.signingKeys lists any (OpenPGP or SSH);
//  3. takes the first path template that is a file in that commit
//     (hosts/{hostname}/desired.yaml before groups/{group}/desired.yaml
//     before fleet/desired.yaml, by default);
//  4. reads it strictly as a fleet file (see Document): a desired.yaml
//     document, with a rollout when its kind is FleetDesiredVersion;
//  5. applies the rollout: the host moves when it is a canary or its
//     Cohort (a hash of its host id, 0..99) is below rollout.percent;
//  6. replaces desired.yaml when it asks for something else
//     (internal/desired.Replace: atomic, locked, generation-checked).
//
// Each sync records what it looked at and did in status.yaml's fleet
// block (status.FleetStatus). An unreachable repo, a missing branch or
// file, an invalid file, an unsigned or untrusted commit, or a host
// outside the wave changes nothing on the host; the block says which.
//
// Rollouts without a server: no host sees another, so "canaries first"
// is carried by the percentage. Canaries move at every percent, 0
// included; the others only once the percentage covers their cohort. A
// wave is started with percent 0 and canaries, widened by raising the
// percentage in git once the canaries are seen healthy (status, metrics),
// and finished at 100. Lowering the percentage moves no host back: a host
// outside the wave keeps the desired.yaml it has. To go back, commit the
// old version. A host whose update failed rolls back on its own and its
// desired.yaml stays as the fleet wrote it, so it does not try the same
// release again until the fleet file changes. With
// rollout.pauseOnFailure it also pauses (status.FleetPause): it takes no
// other version, from the fleet or from latest, until the fleet file for
// it changes (a new git blob), and writes nothing anywhere but its own
// status; the metrics and the API show the pause, which is how a wave is
// stopped without a server (README: the PromQL).
//
// The fleet repo wins: a local edit of desired.yaml (set, the dashboard)
// on a host in the wave is replaced at the next sync if the fleet file
// asks for something else. To take a host out, remove desiredFrom from
// its updater.yaml, or give it its own hosts/<hostname>/desired.yaml.
package fleet
