package executor

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// killTimeout bounds the wait for marked processes to disappear after SIGKILL; only a process
// stuck in the kernel (uninterruptible sleep) takes longer than a few milliseconds.
const killTimeout = 3 * time.Second

// signalJob sends sig to the process group of the step whose leader is pid and to every process
// carrying the job's marker. With spareLeader the leader and its group are left out.
func (e *Executor) signalJob(pid int, marker string, sig syscall.Signal, spareLeader bool) {
	if !spareLeader && pid > 0 {
		// ESRCH only means the group is already gone.
		_ = syscall.Kill(-pid, sig)
	}
	for _, p := range findMarked(marker) {
		if spareLeader && p == pid {
			continue
		}
		_ = syscall.Kill(p, sig)
	}
}

// killJob SIGKILLs the process group of pid (if pid > 0) and every process carrying marker, until
// none is left, and returns how many marked processes it killed. A process can fork between the
// scan and the kill, hence the loop; it ends because a killed process forks no more.
func (e *Executor) killJob(pid int, marker string) (int, error) {
	if pid > 0 {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	killed := map[int]bool{}
	deadline := time.Now().Add(killTimeout)
	for {
		pids := findMarked(marker)
		if len(pids) == 0 {
			return len(killed), nil
		}
		if time.Now().After(deadline) {
			return len(killed), fmt.Errorf("%w: processes %v of the job still alive after SIGKILL", ErrCleanup, pids)
		}
		for _, p := range pids {
			if err := syscall.Kill(p, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				return len(killed), fmt.Errorf("%w: killing process %d: %v", ErrCleanup, p, err)
			}
			killed[p] = true
		}
		// A killed process keeps its environment until it has exited; give it that moment.
		time.Sleep(2 * time.Millisecond)
	}
}

// findMarked lists the processes whose environment holds markerVar=marker. Zombies have no
// environment left and do not count: they are dead already and hold no resources but a PID.
func findMarked(marker string) []int {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil
	}
	entry := []byte(markerVar + "=" + marker)
	self := os.Getpid()
	var pids []int
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid == self {
			continue
		}
		// Errors mean the process is gone or is not ours to read (and then not one of the
		// job's: a job's processes run as the agent's user).
		env, err := os.ReadFile("/proc/" + name + "/environ")
		if err != nil || len(env) == 0 {
			continue
		}
		if hasEnvEntry(env, entry) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// hasEnvEntry reports whether the NUL-separated environment env holds entry as a whole item, so
// that FOO=RAMPART_JOB_MARKER=… does not count.
func hasEnvEntry(env, entry []byte) bool {
	for len(env) > 0 {
		item := env
		if i := bytes.IndexByte(env, 0); i >= 0 {
			item, env = env[:i], env[i+1:]
		} else {
			env = nil
		}
		if bytes.Equal(item, entry) {
			return true
		}
	}
	return false
}
