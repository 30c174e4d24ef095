package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/rbac"
)

// Bounds of the log view. A log may be far larger than a browser should hold: the page shows a
// window of lines (the tail by default), the live view appends to it and drops its oldest lines
// past a cap (in the script), and the whole log is a download.
const (
	pageLines   = 1000    // lines of one page
	pageBudget  = 8 << 20 // log bytes read for one page at most (lines may be very long)
	batchBytes  = 1 << 20 // log bytes to read from the store at a time, roughly
	eventBudget = 1 << 20 // log bytes rendered into one server-sent event at most
	// streamSkip: a live view further behind the end than this jumps ahead to the last
	// streamKeep bytes and says which lines it skipped, rather than replaying megabytes.
	streamSkip = 4 << 20
	streamKeep = 1 << 20
)

// batch reads the chunks of j's log after seq, about batchBytes of them: it asks for as many
// chunks as the last batch's average size fits into batchBytes (limit carries that between
// calls; start it at 0). full reports that there may be more.
func (ui *UI) batch(ctx context.Context, j *rampart.Job, after int64, limit *int) (chunks []*rampart.LogChunk, now *rampart.Job, full bool, err error) {
	if *limit <= 0 {
		*limit = 4
	}
	chunks, now, err = ui.cfg.Scheduler.Logs(ctx, j, after, *limit)
	if err != nil {
		return nil, nil, false, err
	}
	full = len(chunks) == *limit
	size := 0
	for _, c := range chunks {
		size += len(c.Data)
	}
	if len(chunks) > 0 {
		*limit = min(max(batchBytes/max(size/len(chunks), 1), 1), 256)
	}
	return chunks, now, full, nil
}

// logIndex records where points of a job's log start — the line number and byte offset of a
// chunk's first byte, one point at least every indexEvery bytes — so that a page of lines in the
// middle of a 100 MB log is found by rendering at most indexEvery bytes (and a chunk) before
// it. Its size grows with the log's bytes, not with its number of chunks, which agents that
// flush often make large. Chunks are immutable once stored, so an index only grows; the index of
// a finished job is complete. Building it reads the log once.
type logIndex struct {
	mu      sync.Mutex
	points  []logPoint
	since   int64 // bytes since the last point
	next    int64 // the number of the line after the last byte
	open    bool  // the last chunk did not end its line
	size    int64
	lastSeq int64
	final   bool // the job had ended at the last update: no chunk can follow
	used    uint64
}

// indexEvery is the most log bytes between two points of an index.
const indexEvery = 64 << 10

// logPoint is where a chunk begins.
type logPoint struct {
	after  int64 // the chunk before it: reading the log after this seq starts here
	line   int64 // the number of the line its first byte belongs to
	open   bool  // that line began in an earlier chunk
	offset int64 // bytes before it
}

// logView is a consistent copy of an index, taken under its lock.
type logView struct {
	points  []logPoint
	next    int64
	open    bool
	size    int64
	lastSeq int64
	job     *rampart.Job
}

// lines is the number of lines of the log.
func (v *logView) lines() int64 {
	if v.open {
		return v.next
	}
	return v.next - 1
}

// pointBefore returns the point to start rendering from for line n to come out whole: the last
// one that begins within an earlier line.
func (v *logView) pointBefore(n int64) logPoint {
	i := sort.Search(len(v.points), func(i int) bool { return v.points[i].line >= n })
	if i == 0 {
		return logPoint{line: 1}
	}
	return v.points[i-1]
}

// pointAt returns the last point at or before the start of the chunk after seq.
func (v *logView) pointAt(seq int64) logPoint {
	i := sort.Search(len(v.points), func(i int) bool { return v.points[i].after > seq })
	if i == 0 {
		return logPoint{line: 1}
	}
	return v.points[i-1]
}

// logIndexes caches the indexes of recently viewed logs.
type logIndexes struct {
	mu    sync.Mutex
	max   int
	clock uint64
	m     map[int64]*logIndex
}

func newLogIndexes(max int) *logIndexes {
	return &logIndexes{max: max, m: map[int64]*logIndex{}}
}

func (c *logIndexes) get(jobID int64) *logIndex {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clock++
	ix, ok := c.m[jobID]
	if !ok {
		if len(c.m) >= c.max {
			var oldest int64
			var when uint64 = ^uint64(0)
			for id, e := range c.m {
				if e.used < when {
					oldest, when = id, e.used
				}
			}
			delete(c.m, oldest)
		}
		ix = &logIndex{next: 1}
		c.m[jobID] = ix
	}
	ix.used = c.clock
	return ix
}

// logView brings the index of j's log up to date and returns a copy of it with the job as it
// is now.
func (ui *UI) logView(ctx context.Context, j *rampart.Job) (*logView, error) {
	ix := ui.logs.get(j.ID)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	now := j
	limit := 0
	for !ix.final {
		chunks, cur, full, err := ui.batch(ctx, j, ix.lastSeq, &limit)
		if err != nil {
			return nil, err
		}
		now = cur
		for _, c := range chunks {
			if len(ix.points) == 0 || ix.since >= indexEvery {
				ix.points = append(ix.points, logPoint{after: ix.lastSeq, line: ix.next, open: ix.open, offset: ix.size})
				ix.since = 0
			}
			ix.next += int64(bytes.Count(c.Data, []byte{'\n'}))
			if len(c.Data) > 0 {
				ix.open = c.Data[len(c.Data)-1] != '\n'
			}
			ix.size += int64(len(c.Data))
			ix.since += int64(len(c.Data))
			ix.lastSeq = c.Seq
		}
		if !full {
			// Logs read the job before its chunks in one snapshot: a job already finished
			// then had all its chunks stored.
			ix.final = rampart.Terminal(cur.Status)
			break
		}
	}
	return &logView{
		points: ix.points[:len(ix.points):len(ix.points)],
		next:   ix.next, open: ix.open, size: ix.size, lastSeq: ix.lastSeq, job: now,
	}, nil
}

// stateAfter returns the line number, and whether that line had begun, right after chunk seq
// of j's log, by rendering (and discarding) from the index point before it.
func (ui *UI) stateAfter(ctx context.Context, j *rampart.Job, v *logView, seq int64) (int64, bool, error) {
	if seq >= v.lastSeq {
		return v.next, v.open, nil
	}
	p := v.pointAt(seq)
	rd := newRenderer(p.line, p.open, math.MaxInt64)
	limit := 0
	for after := p.after; after < seq; {
		chunks, _, full, err := ui.batch(ctx, j, after, &limit)
		if err != nil {
			return 0, false, err
		}
		for _, c := range chunks {
			if c.Seq > seq {
				break
			}
			rd.write(c.Data)
			after = c.Seq
		}
		if !full || chunks[len(chunks)-1].Seq > seq {
			break
		}
	}
	return rd.n, rd.open, nil
}

// window is a page of a log.
type window struct {
	Lines   []logLine
	EOF     bool  // the page reaches the end of the log as stored now
	LastSeq int64 // the last chunk read, from which a live view continues
}

// readWindow renders up to pageLines lines of j's log from line from.
func (ui *UI) readWindow(ctx context.Context, j *rampart.Job, v *logView, from int64) (*window, error) {
	w := &window{}
	p := v.pointBefore(from)
	after := p.after
	rd := newRenderer(p.line, p.open, from)
	read, limit := 0, 0
	for {
		chunks, _, full, err := ui.batch(ctx, j, after, &limit)
		if err != nil {
			return nil, err
		}
		for _, c := range chunks {
			rd.write(c.Data)
			after, read = c.Seq, read+len(c.Data)
		}
		w.Lines = append(w.Lines, rd.lines()...)
		if len(w.Lines) >= pageLines || read > pageBudget {
			break
		}
		if !full {
			w.EOF = true
			w.Lines = append(w.Lines, rd.take()...)
			break
		}
	}
	if len(w.Lines) > pageLines {
		w.Lines, w.EOF = w.Lines[:pageLines], false
	}
	w.LastSeq = after
	return w, nil
}

type jobData struct {
	Run      *rampart.Run
	Job      *rampart.Job
	Agent    string
	Lines    []logLine
	First    int64 // the first line shown
	Last     int64 // the last line shown
	Total    int64 // lines in the log now
	Size     int64
	Prev     int64 // from= of the previous page, 0 on the first
	Next     int64 // from= of the next page, 0 on the last
	Tail     int64 // from= of the last page
	Live     bool  // new lines stream into this page
	Seq      int64 // the stream continues after this chunk
	Target   int64 // the line asked for with ?line=
	Download string
	Stream   string
}

// job loads the job of the path after checking action a on its project.
func (ui *UI) job(r *http.Request, a rbac.Action) (*rampart.Project, *rampart.Job, error) {
	p, err := ui.project(r, a)
	if err != nil {
		return nil, nil, err
	}
	id, err := pathInt(r, "id")
	if err != nil {
		return nil, nil, err
	}
	j, err := ui.cfg.Scheduler.Job(r.Context(), p, id)
	return p, j, err
}

// handleJob shows a job and a page of its log: the last lines by default, ?from=N from line N,
// ?line=N the page around line N (links to lines use it). On the last page of a job that is
// still running, new lines stream in.
func (ui *UI) handleJob(w http.ResponseWriter, r *http.Request) error {
	p, j, err := ui.job(r, rbac.RunRead)
	if err != nil {
		return err
	}
	ctx := r.Context()
	v, err := ui.logView(ctx, j)
	if err != nil {
		return err
	}
	j = v.job
	total := v.lines()
	d := jobData{Job: j, Total: total, Size: v.size, Tail: max(total-pageLines+1, 1)}
	q := r.URL.Query()
	from := d.Tail
	if s := q.Get("line"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return rampart.Errorf(rampart.EINVALID, "bad line %q", s).WithDetail("give a line number from 1")
		}
		d.Target = n
		from = max(n-100, 1)
	} else if s := q.Get("from"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return rampart.Errorf(rampart.EINVALID, "bad first line %q", s).WithDetail("give a line number from 1")
		}
		from = n
	}
	from = min(from, max(total, 1))
	win, err := ui.readWindow(ctx, j, v, from)
	if err != nil {
		return err
	}
	d.Lines = win.Lines
	if len(win.Lines) > 0 {
		d.First, d.Last = win.Lines[0].N, win.Lines[len(win.Lines)-1].N
	}
	if from > 1 {
		d.Prev = max(from-pageLines, 1)
	}
	if !win.EOF {
		d.Next = from + int64(len(win.Lines))
	}
	d.Live = win.EOF && !rampart.Terminal(j.Status)
	d.Seq = win.LastSeq
	esc := url.PathEscape(p.Name)
	d.Download = fmt.Sprintf("/api/v1/projects/%s/jobs/%d/logs", esc, j.ID)
	d.Stream = fmt.Sprintf("/projects/%s/jobs/%d/stream", esc, j.ID)
	err = ui.cfg.Store.View(ctx, func(tx rampart.Tx) error {
		var err error
		if d.Run, err = tx.RunByID(ctx, j.RunID); err != nil {
			return err
		}
		if j.AgentID != 0 {
			if a, err := tx.AgentByID(ctx, j.AgentID); err == nil {
				d.Agent = a.Name
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	pg, err := ui.newPage(r, fmt.Sprintf("%s · #%d · %s", p.Name, d.Run.Number, j.Name), p)
	if err != nil {
		return err
	}
	pg.Tab, pg.Data = "Runs", d
	return ui.render(w, http.StatusOK, "job", pg)
}

// handleJobStream streams a job's new log lines as server-sent events, rendered like the page
// (numbered lines of styled text segments, as JSON) so that the script only creates text nodes.
// It starts after the chunk ?after= (or Last-Event-ID on reconnection) and ends with an "end"
// event once the job has finished and every line was sent. Events: "lines" {lines: [...]},
// "skip" {from, to} when it jumped ahead, "end" {status, text, exit_code, reason}.
func (ui *UI) handleJobStream(w http.ResponseWriter, r *http.Request) error {
	_, j, err := ui.job(r, rbac.RunRead)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var after int64
	if s := r.URL.Query().Get("after"); s != "" {
		after, _ = strconv.ParseInt(s, 10, 64)
	}
	if s := r.Header.Get("Last-Event-ID"); s != "" {
		after, _ = strconv.ParseInt(s, 10, 64)
	}
	v, err := ui.logView(ctx, j)
	if err != nil {
		return err
	}
	n, open, err := ui.stateAfter(ctx, j, v, after)
	if err != nil {
		return err
	}
	rd := newRenderer(n, open, 1)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	send := func(event string, id int64, v any) {
		b, _ := json.Marshal(v)
		if id > 0 {
			fmt.Fprintf(w, "id: %d\n", id)
		}
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	quiet := time.Now()
	limit := 0
	for {
		chunks, now, behind, err := ui.batch(ctx, j, after, &limit)
		if err != nil {
			if ctx.Err() == nil {
				ui.logger.Error("stream job log", "job", j.ID, "err", err)
			}
			return nil
		}
		if behind {
			if v, err := ui.logView(ctx, j); err == nil {
				here := v.pointAt(after)
				i := sort.Search(len(v.points), func(i int) bool { return v.points[i].offset >= v.size-streamKeep })
				if v.size-here.offset > streamSkip && i < len(v.points) && v.points[i].after > after {
					to := v.points[i]
					if lines := rd.take(); len(lines) > 0 {
						send("lines", 0, map[string]any{"lines": lines})
					}
					send("skip", 0, map[string]int64{"from": rd.n, "to": to.line})
					after = to.after
					rd = newRenderer(to.line, to.open, 1)
					continue
				}
			}
		}
		read := 0
		for _, c := range chunks {
			rd.write(c.Data)
			after, read = c.Seq, read+len(c.Data)
			if read > eventBudget {
				behind = true
				break
			}
		}
		if lines := rd.take(); len(lines) > 0 {
			send("lines", after, map[string]any{"lines": lines})
			quiet = time.Now()
		}
		if !behind && rampart.Terminal(now.Status) {
			send("end", 0, map[string]any{"status": now.Status, "text": statusText(now.Status), "exit_code": now.ExitCode, "reason": now.Reason})
			_ = rc.Flush()
			return nil
		}
		if time.Since(quiet) > 15*time.Second {
			fmt.Fprint(w, ": keepalive\n\n")
			quiet = time.Now()
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
		if behind {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
