// Package executor runs the steps of one job on an agent machine and guarantees Rampart's
// invariant 7: a job starts from an empty directory and a clean environment, and after it nothing
// of it remains on the agent — files, processes, credentials.
//
// For every job, [Executor.Run]
//
//   - creates a fresh job directory under [Config.Root] (mode 0700) holding the workspace, a private
//     TMPDIR and a HOME, none of which another job can see;
//   - runs each step with `bash -e -o pipefail -c` (or `sh -e -c`) in its own process group, with an
//     environment built from scratch: nothing of the agent's own environment reaches a step;
//   - tags every step process with a random RAMPART_JOB_MARKER and, after every step and at the end
//     of the job, kills each process on the machine that carries the marker (the technique of
//     Jenkins' ProcessTreeKiller: it finds daemons that left the process group through setsid or a
//     double fork), as well as the step's process group;
//   - on cancellation or timeout sends SIGTERM to the step's processes and SIGKILL after
//     [Config.KillGrace];
//   - removes the whole job directory afterwards, whatever happened (failure, cancellation, timeout,
//     a panic in a Prepare or Collect hook), even when a step made files or directories read-only;
//   - passes secrets to steps only through the environment of the step processes: the executor never
//     writes them to disk, never puts them on a command line and never logs them.
//
// With bubblewrap (https://github.com/containers/bubblewrap) installed, steps also run in a sandbox:
// a read-only view of the system directories (/usr, /bin, /sbin, /lib*, /etc, plus
// [Config.ReadOnly], minus [Config.Hide]) and nothing else of the host, a private /proc and /dev,
// a /tmp that is an empty tmpfs for every step (TMPDIR is the one that lasts across the steps of a
// job), the job directories as the only writable paths, new PID, IPC, UTS and cgroup namespaces, no
// capabilities, and, unless the job asks for network, a network namespace with nothing in it, not
// even the host's loopback. The sandbox's PID 1 takes every process of the step down with it when
// the step ends.
//
// Should the agent itself die, its running steps get SIGKILL (with the sandbox, all their
// processes), and the next [New] on the same Root kills the marked processes and removes the job
// directories that jobs of the dead agent left behind.
//
// Limits, all of them without the sandbox (Sandbox "none"), which is a convenience for trusted
// code and not a security boundary:
//
//   - a step runs as the agent's user and can read the agent's memory and environment through
//     /proc, reach the network, and write anywhere that user may, for instance /tmp, and those
//     files outlive the job;
//   - a process that clears or rewrites its environment loses the job marker and, once it has left
//     the step's process group, survives the job;
//   - Job.Network is ignored (and a warning says so in the job output and the log).
//
// With or without the sandbox, a step running as root outside the sandbox can defeat any of this,
// and a step can leave symlinks in its workspace that point anywhere: Collect hooks must treat the
// workspace as untrusted input.
//
// An [Executor] may run any number of jobs concurrently.
package executor
