package executor

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// systemPaths are shown read-only in the sandbox: what a shell and common build tools need to
// run, and nothing of the agent's own state (/var, /home, /root, /run, /srv, /opt).
func systemPaths() []string {
	return []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"}
}

// probeTimeout bounds the bubblewrap check in New; a working bwrap answers in milliseconds.
const probeTimeout = 10 * time.Second

// probeBwrap finds bubblewrap and checks that it can create every namespace a step needs here,
// since containers and hardened kernels often forbid some. It returns why not, or "".
func probeBwrap() (path, why string) {
	path = "/usr/bin/bwrap"
	if !isExecutable(path) {
		p, err := exec.LookPath("bwrap")
		if err != nil {
			return "", "bubblewrap not installed"
		}
		path = p
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	args := append(commonBwrapArgs(), "--unshare-net", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--", "true")
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = []string{"PATH=" + basePATH}
	if out, err := cmd.CombinedOutput(); err != nil {
		msg := strings.TrimSpace(string(bytes.SplitN(out, []byte("\n"), 2)[0]))
		if msg == "" {
			msg = err.Error()
		}
		return "", "bubblewrap does not work here: " + msg
	}
	return path, ""
}

// commonBwrapArgs isolates everything but the file system, which the caller lays out.
func commonBwrapArgs() []string {
	args := []string{
		"--die-with-parent", // the sandbox dies with the outer bwrap process, which dies with the agent
		"--new-session",     // no TIOCSTI into a terminal the agent might have
		"--unshare-pid",     // its PID 1 kills every process of the step when the step ends
		"--unshare-ipc",
		"--unshare-uts", "--hostname", "rampart",
		"--unshare-cgroup-try", // hides the agent's cgroup paths where the kernel allows it
	}
	if os.Geteuid() == 0 {
		// bwrap keeps root's capabilities unless told otherwise, and with CAP_SYS_ADMIN a step
		// could remount the read-only binds writable.
		args = append(args, "--cap-drop", "ALL")
	}
	return args
}

// bwrapArgs lays out the sandbox of one step. Every job directory is bound at its host path so
// that paths mean the same inside and outside (for Prepare, Collect and error messages).
func (e *Executor) bwrapArgs(jd *jobDir, network bool) []string {
	args := commonBwrapArgs()
	if !network {
		args = append(args, "--unshare-net")
	}
	shown := func(p string) bool {
		for _, s := range systemPaths() {
			if p == s || strings.HasPrefix(p, s+"/") {
				return true
			}
		}
		return false
	}
	for _, p := range systemPaths() {
		fi, err := os.Lstat(p)
		switch {
		case err != nil:
		case fi.Mode()&os.ModeSymlink != 0:
			// Merged-/usr systems: /bin -> usr/bin. Binding it would bind the target twice.
			if target, err := os.Readlink(p); err == nil {
				args = append(args, "--symlink", target, p)
			}
		case fi.IsDir():
			args = append(args, "--ro-bind", p, p)
		}
	}
	for _, p := range e.readOnly {
		args = append(args, "--ro-bind-try", p, p)
	}
	// systemd-resolved and friends point /etc/resolv.conf into /run, which is not shown.
	if target, err := filepath.EvalSymlinks("/etc/resolv.conf"); err == nil && network && !shown(target) {
		args = append(args, "--ro-bind-try", target, target)
	}
	args = append(args, "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp")
	for _, p := range e.hide {
		fi, err := os.Lstat(p)
		switch {
		case err != nil:
		case fi.IsDir():
			args = append(args, "--tmpfs", p)
		default:
			args = append(args, "--ro-bind", "/dev/null", p)
		}
	}
	for _, d := range []string{jd.ws, jd.tmp, jd.home} {
		args = append(args, "--bind", d, d)
	}
	return append(args, "--chdir", jd.ws, "--")
}
