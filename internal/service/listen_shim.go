package service

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The socket-activation protocol wants LISTEN_PID to be the backend's own
// pid, which is not known before fork, and Go offers no hook between fork
// and execve to set it. So a backend given the socket is started through a
// shim: the binary that runs the supervisor is executed again with
// shimArg and shimEnv, sets LISTEN_PID to its pid and execve's the
// backend, which keeps that pid, the new session, the start time in the
// pidfile and fd 3.
//
// The shim runs in an init function, so any binary that links this
// package (the updater, and test binaries) can serve as one without its
// main taking part. It is triggered only by both markers together.
const (
	shimArg = "__better-paas-exec-listen"
	shimEnv = "BETTER_PAAS_EXEC_LISTEN"
	// shimErrFD is the shim's end of a close-on-exec pipe: EOF tells Start
	// that execve of the backend succeeded, text that it did not.
	shimErrFD = listenFD + 1
)

func init() {
	if len(os.Args) > 2 && os.Args[1] == shimArg && os.Getenv(shimEnv) == "1" {
		os.Exit(runShim(os.Args[2], append([]string{os.Args[0]}, os.Args[3:]...)))
	}
}

// runShim execve's path with argv and the environment minus shimEnv plus
// LISTEN_PID. It returns only when execve fails, after writing why to
// shimErrFD.
func runShim(path string, argv []string) int {
	errPipe := os.NewFile(shimErrFD, "exec-error-pipe")
	// The backend must not inherit the pipe, or Start would wait for it
	// to exit; fd 3 (the socket) stays open across execve.
	unix.CloseOnExec(shimErrFD)
	env := make([]string, 0, len(os.Environ())+1)
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name != shimEnv && name != "LISTEN_PID" {
			env = append(env, kv)
		}
	}
	env = append(env, "LISTEN_PID="+strconv.Itoa(os.Getpid()))
	err := syscall.Exec(path, argv, env)
	_, _ = fmt.Fprintf(errPipe, "%v", err)
	return 127
}

// shimCommand returns the program and arguments that start the backend
// path (argv as given) through the shim.
func shimCommand(path string, argv []string) (string, []string, error) {
	self := "/proc/self/exe" // the running image, even if its file was replaced since
	if runtime.GOOS != "linux" {
		var err error
		if self, err = os.Executable(); err != nil {
			return "", nil, fmt.Errorf("cannot find the updater's own binary to pass the socket with: %w", err)
		}
	}
	args := append([]string{argv[0], shimArg, path}, argv[1:]...)
	return self, args, nil
}
