// Package fault marks the places where tests inject failures: a crash
// (SIGKILL of the daemon), an error, a full disk or a hang, at a named point
// such as "swap:do:mid".
//
// Points exist in every build, but only a build with the faultinject tag
// acts on them; in a normal build Inject is an empty function the compiler
// removes. The crash-matrix tests build the daemon with -tags faultinject
// and choose the faults through the BETTER_PAAS_FAULTS environment variable:
//
//	BETTER_PAAS_FAULTS="build-backend:do:mid=kill;recover:undo:mid=error"
//
// A point's full name is the step and phase the runner put in the context
// (WithStep) followed by the point the code passed to Inject: "before" and
// "after" around each step, "mid" inside a step where its work is half done.
package fault
