// Package hooks implements the hook protocol: administrators drop
// executables into a hooks folder and the updater runs them around each
// step of an update, the way Mender runs state scripts.
//
// A script's file name says when it runs:
//
//	<State>_<Action>_<NN>[_<description>]    e.g. Backup_Enter_10_notify
//
// State is the step name in CamelCase (see StateName), Action is Enter
// (before the step), Leave (after it succeeded) or Error (after it failed),
// and NN is two digits giving the order; StateRollback names the scripts
// that run around a rollback. Scan lists the folder with what it refuses
// and why (a bad name, a script not executable, writable by group or
// others, owned by another user, a symlink out of the folder); Discover
// returns the scripts, or every refusal at once; Runner runs the scripts
// of one step and action with a timeout each, in their own process group,
// and turns their exit codes into errors: 0 is success, 21 is
// ErrRetryLater, anything else a *ScriptError.
//
// The protocol as administrators see it is described in README.md next to
// this file.
package hooks
