// Package e2e holds Rampart's end-to-end tests: they build the rampart binary and run real
// server and agent processes on 127.0.0.1 against real git repositories, the way a user would,
// including killing them with SIGKILL in the middle of a run.
package e2e
