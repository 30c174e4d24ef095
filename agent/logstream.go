package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Limits of a job's log stream.
const (
	// logChunkSize is the most one uploaded chunk holds: small enough that a retry costs little
	// and live viewers see output promptly, large enough that a chatty build is not a flood of
	// requests. It is well below rampart.MaxLogChunk.
	logChunkSize = 64 << 10
	// logBufferLimit bounds the output held while the server is slow or unreachable; beyond it
	// output is dropped, so that a job never waits for, nor an agent runs out of memory over,
	// its log.
	logBufferLimit = 8 << 20
)

// uploadFunc sends chunk seq of a job's log; it is JobClient.UploadLog in production.
type uploadFunc func(ctx context.Context, seq int64, data []byte) error

// logStream is the io.Writer a job's output goes to. It batches the output into numbered chunks
// and uploads them in order from a goroutine of its own, so that Write never waits for the
// network: a chunk goes out when it is full or every flush interval, a failed upload is retried
// with the same seq (the server stores each seq once), and while uploads lag, up to
// logBufferLimit bytes wait in memory; what comes on top is dropped and replaced by a marker
// line saying how much was lost.
//
// Write may be called concurrently; Close once, after the last Write.
type logStream struct {
	upload uploadFunc
	every  time.Duration
	log    *slog.Logger
	chunk  int // logChunkSize; smaller in tests
	limit  int // logBufferLimit; smaller in tests

	ctx    context.Context // uploads stop when it is done
	cancel context.CancelFunc
	wake   chan struct{} // a full chunk is waiting, or Close was called
	done   chan struct{} // closed when the upload goroutine has ended

	mu      sync.Mutex
	buf     []byte // accepted, not yet uploaded; the head may be in flight
	dropped int64  // bytes dropped since the last marker
	lastNL  bool   // the last byte accepted was a newline (or nothing was accepted yet)
	closed  bool   // Close was called: upload everything, then end
	stopped bool   // the upload goroutine has ended: further output is discarded
	seq     int64  // seq of the last chunk cut
	err     error  // why the goroutine ended early
}

// newLogStream starts the upload goroutine of a job's log. Uploads run under ctx and stop for
// good when it is done or when upload fails with an error that means the lease is lost.
func newLogStream(ctx context.Context, upload uploadFunc, every time.Duration, log *slog.Logger) *logStream {
	s := &logStream{
		upload: upload,
		every:  every,
		log:    log,
		chunk:  logChunkSize,
		limit:  logBufferLimit,
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		lastNL: true,
	}
	s.ctx, s.cancel = context.WithCancel(ctx)
	return s
}

// start runs the upload goroutine. It is separate from newLogStream so that tests can set the
// sizes first.
func (s *logStream) start() *logStream {
	go s.run()
	return s
}

// Write accepts p for upload. It never blocks on the network and never fails, because a failing
// writer would make the executor discard the rest of the job's output.
func (s *logStream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.stopped || len(p) == 0 {
		return len(p), nil
	}
	if s.dropped > 0 {
		m := s.markerLocked()
		if len(s.buf)+len(m)+len(p) > s.limit {
			s.dropped += int64(len(p))
			return len(p), nil
		}
		s.buf = append(s.buf, m...)
		s.dropped = 0
	} else if len(s.buf)+len(p) > s.limit {
		s.dropped += int64(len(p))
		return len(p), nil
	}
	s.buf = append(s.buf, p...)
	s.lastNL = p[len(p)-1] == '\n'
	if len(s.buf) >= s.chunk {
		s.kick()
	}
	return len(p), nil
}

// markerLocked is the line that stands for the bytes dropped so far, starting on a line of its
// own.
func (s *logStream) markerLocked() []byte {
	m := fmt.Sprintf("[rampart: %d bytes of log dropped]\n", s.dropped)
	if !s.lastNL {
		m = "\n" + m
	}
	return []byte(m)
}

func (s *logStream) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Close uploads what is left, the marker of dropped output included, and waits until it is
// uploaded or ctx is done, whichever comes first. It returns why not everything was uploaded.
func (s *logStream) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		if s.dropped > 0 && !s.stopped {
			// Over the limit if need be: the marker is short and the last thing to come.
			s.buf = append(s.buf, s.markerLocked()...)
			s.dropped = 0
		}
	}
	s.mu.Unlock()
	s.kick()
	select {
	case <-s.done:
	case <-ctx.Done():
		s.cancel()
		<-s.done
	}
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	if n := len(s.buf); n > 0 {
		return fmt.Errorf("agent: %d bytes of log not uploaded: %w", n, context.Cause(ctx))
	}
	return nil
}

// run uploads chunks in order until Close has been called and everything is uploaded, or until
// uploads become impossible.
func (s *logStream) run() {
	defer close(s.done)
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		flush := false
		select {
		case <-s.ctx.Done():
			s.stop(nil)
			return
		case <-s.wake:
		case <-t.C:
			flush = true
		}
		for {
			s.mu.Lock()
			n := min(len(s.buf), s.chunk)
			closed := s.closed
			if n == 0 && closed {
				s.stopped = true
				s.mu.Unlock()
				return
			}
			if n == 0 || (n < s.chunk && !flush && !closed) {
				s.mu.Unlock()
				break
			}
			// Write only appends beyond len(s.buf), so data stays valid and unchanged while
			// the lock is released for the upload.
			data := s.buf[:n:n]
			s.seq++
			seq := s.seq
			s.mu.Unlock()

			if err := s.send(seq, data); err != nil {
				s.stop(err)
				return
			}
			s.mu.Lock()
			s.buf = s.buf[n:]
			s.mu.Unlock()
		}
	}
}

// stop ends the stream early: whatever is left is discarded.
func (s *logStream) stop(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	if err == nil && !s.closed {
		err = fmt.Errorf("agent: log upload stopped: %w", context.Cause(s.ctx))
	}
	s.err = err
}

// send uploads one chunk, retrying transient failures with the same seq and a growing pause. A
// chunk the server refuses for good (say, as malformed) is skipped with an error in the agent
// log, since sending it again cannot help; an error that means the lease is lost ends the stream.
func (s *logStream) send(seq int64, data []byte) error {
	b := backoff{min: 250 * time.Millisecond, max: 10 * time.Second}
	for attempt := 1; ; attempt++ {
		err := s.upload(s.ctx, seq, data)
		switch {
		case err == nil:
			if attempt > 1 {
				s.log.Info("agent: log upload works again", "seq", seq, "attempts", attempt)
			}
			return nil
		case s.ctx.Err() != nil:
			return fmt.Errorf("agent: uploading log chunk %d: %w", seq, context.Cause(s.ctx))
		case leaseLost(err):
			return fmt.Errorf("agent: uploading log chunk %d: %w", seq, err)
		case !transient(err):
			s.log.Error("agent: server refused a log chunk; skipped", "seq", seq, "bytes", len(data), "err", err)
			return nil
		}
		if attempt == 1 {
			s.log.Warn("agent: log upload failed; retrying", "seq", seq, "err", err)
		}
		if !sleepCtx(s.ctx, b.next()) {
			return fmt.Errorf("agent: uploading log chunk %d: %w", seq, errors.Join(err, context.Cause(s.ctx)))
		}
	}
}
