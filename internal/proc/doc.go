// Package proc is the Linux process plumbing shared by internal/command
// (build and hook commands, each in its own process group) and
// internal/service (the embedded supervisor, whose backend leads its own
// session): reading /proc/<pid>/stat, telling whether a process group
// still has a live member, signalling a group, waiting for a group to
// empty, and the checks that make a failed start explain itself.
//
// It reads /proc directly because a process that is not our child cannot
// be waited for, and kill(2) alone cannot tell a zombie from a running
// process. Zombies count as gone everywhere in this package: they have
// released their memory, files and pipes and only wait for their parent
// (often an init that takes its time) to reap them.
//
// The package holds no state; every function is safe for concurrent use.
// It is a leaf: it imports nothing of the project.
package proc
