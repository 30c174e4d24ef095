package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// After a step ended and its processes were killed, the output pipe is read until it stays empty
// for drainIdle, for at most drainMax: only a process that escaped the kill can still hold it
// open, and it must not hold the job hostage.
const (
	drainIdle = time.Second
	drainMax  = 10 * time.Second
)

// runStep runs one step to its end and kills whatever it left behind.
func (e *Executor) runStep(ctx, jobCtx context.Context, job *Job, st Step, base map[string]string, jd *jobDir, w *outWriter, log *slog.Logger) StepResult {
	res := StepResult{Name: st.Name, ExitCode: -1}
	start := time.Now()
	log = log.With("step", st.Name)
	w.printf("▶ step: %s\n", st.Name)

	argv := append(append([]string(nil), e.shell...), st.Run)
	if e.bwrap != "" {
		argv = append(append([]string{e.bwrap}, e.bwrapArgs(jd, job.Network)...), argv...)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return e.startFailed(res, start, w, log, fmt.Errorf("executor: creating output pipe: %w", err))
	}
	cmd := &exec.Cmd{
		Path: argv[0],
		Args: argv,
		Env:  stepEnv(base, st, job.Secrets, jd.marker),
		Dir:  jd.ws,
		// One pipe for both streams keeps the order in which the step wrote them.
		Stdout: pw,
		Stderr: pw,
		SysProcAttr: &syscall.SysProcAttr{
			// Its own process group, so that one signal reaches the shell and its children.
			Setpgid: true,
			// Should the agent die, its step dies with it (and, with the sandbox, every process
			// in it) instead of running on unsupervised.
			Pdeathsig: syscall.SIGKILL,
		},
	}
	started := make(chan error, 1)
	waited := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that forked the child exits, not the process, and the
		// Go runtime ends a thread whose goroutine exits while locked to it. Keeping this
		// goroutine on its thread until the step is reaped keeps the signal for the agent's death.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		waited <- cmd.Wait()
	}()
	err = <-started
	pw.Close() // the step holds the only write ends now, so EOF means they are all gone
	if err != nil {
		pr.Close()
		return e.startFailed(res, start, w, log, fmt.Errorf("executor: starting step %q: %w", st.Name, err))
	}
	pid := cmd.Process.Pid
	p := newPump(pr, w)
	go p.run()

	var waitErr error
	select {
	case waitErr = <-waited:
	case <-jobCtx.Done():
		res.Status = ctxStatus(ctx, jobCtx)
		log.Info("executor: terminating step", "reason", res.Status)
		// The outer bwrap process is spared from SIGTERM: it would die at once and its
		// sandbox's init would SIGKILL the step, leaving it no grace at all.
		e.signalJob(pid, jd.marker, syscall.SIGTERM, e.bwrap != "")
		grace := time.NewTimer(e.killGrace)
		select {
		case waitErr = <-waited:
			grace.Stop()
		case <-grace.C:
			log.Warn("executor: step ignored SIGTERM, killing it", "grace", e.killGrace)
			e.signalJob(pid, jd.marker, syscall.SIGKILL, false)
			waitErr = <-waited
		}
	}
	// Daemons, background jobs and anything that went through setsid or a double fork.
	leftovers, killErr := e.killJob(pid, jd.marker)
	if leftovers > 0 {
		log.Info("executor: killed processes the step left behind", "count", leftovers)
	}
	if !p.drain() {
		log.Warn("executor: a process outside the job's control still holds the step's output open")
	}
	res.Duration = time.Since(start)

	code := exitCode(cmd.ProcessState, waitErr)
	res.ExitCode = code
	switch {
	case res.Status != "":
		w.printf("✖ step %s %s (exit code %d, %s)\n", st.Name, statusWords(res.Status), code, res.Duration.Round(time.Millisecond))
	case code == 0:
		res.Status = StatusSucceeded
		w.printf("✔ step %s succeeded (%s)\n", st.Name, res.Duration.Round(time.Millisecond))
	default:
		res.Status = StatusFailed
		w.printf("✖ step %s failed with exit code %d (%s)\n", st.Name, code, res.Duration.Round(time.Millisecond))
	}
	if killErr != nil {
		// Treated like a failed cleanup: the job end sweep tries again and reports it.
		log.Error("executor: killing the step's processes", "err", killErr)
	}
	return res
}

func (e *Executor) startFailed(res StepResult, start time.Time, w *outWriter, log *slog.Logger, err error) StepResult {
	log.Error("executor: step did not start", "err", err)
	w.printf("✖ %v\n", err)
	res.Status = StatusFailed
	res.Duration = time.Since(start)
	return res
}

func statusWords(s string) string {
	switch s {
	case StatusTimedOut:
		return "timed out"
	case StatusCancelled:
		return "cancelled"
	}
	return s
}

// exitCode follows the shell's convention, 128+n for death by signal n, so that a step killed by
// SIGKILL reads as 137 in both sandbox modes (bwrap reports it that way).
func exitCode(ps *os.ProcessState, waitErr error) int {
	if ps == nil {
		return -1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	if code := ps.ExitCode(); code >= 0 {
		return code
	}
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// outWriter serialises the writes of the output pump and of the executor's own lines, and
// stops writing after the first error so that a broken log stream cannot stall a step.
type outWriter struct {
	mu     sync.Mutex
	w      io.Writer
	log    *slog.Logger
	failed bool
}

func (o *outWriter) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failed || o.w == nil {
		return len(b), nil
	}
	if _, err := o.w.Write(b); err != nil {
		o.failed = true
		o.log.Warn("executor: writing job output failed; discarding the rest", "err", err)
	}
	return len(b), nil
}

func (o *outWriter) printf(format string, args ...any) {
	fmt.Fprintf(o, format, args...)
}

// pump copies a step's output pipe to the job output while the step runs.
type pump struct {
	r          *os.File
	w          io.Writer
	done       chan struct{}
	drainStart atomic.Int64 // unix nanoseconds; zero until drain is called
	eof        bool         // written by run, read after done is closed
}

func newPump(r *os.File, w io.Writer) *pump {
	return &pump{r: r, w: w, done: make(chan struct{})}
}

func (p *pump) run() {
	defer close(p.done)
	buf := make([]byte, 32<<10)
	for {
		if ds := p.drainStart.Load(); ds != 0 {
			if time.Since(time.Unix(0, ds)) > drainMax {
				return
			}
			p.r.SetReadDeadline(time.Now().Add(drainIdle))
		}
		n, err := p.r.Read(buf)
		if n > 0 {
			p.w.Write(buf[:n]) // outWriter never fails
		}
		if err != nil {
			p.eof = errors.Is(err, io.EOF)
			return
		}
	}
}

// drain waits for the rest of the output and closes the pipe. It reports whether the pipe ended
// normally, that is whether every process that could write to it is gone.
func (p *pump) drain() bool {
	p.drainStart.Store(time.Now().UnixNano())
	// Wakes a Read that is already waiting; later ones set their own deadline.
	p.r.SetReadDeadline(time.Now().Add(drainIdle))
	<-p.done
	p.r.Close()
	return p.eof
}
