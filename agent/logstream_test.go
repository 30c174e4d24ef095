package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/client"
)

// chunkServer records the log chunks a job uploads, stores each seq once like the real server,
// and can be told to fail or hold uploads.
type chunkServer struct {
	mu       sync.Mutex
	attempts []int64          // seq of every upload attempt, in arrival order
	chunks   map[int64][]byte // stored, by seq
	fail     func(seq int64, attempt int) int
	hold     chan struct{} // when not nil, uploads wait until it is closed
	srv      *httptest.Server
}

func newChunkServer(t *testing.T) *chunkServer {
	s := &chunkServer{chunks: make(map[int64][]byte)}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *chunkServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/jobs/1/logs" || r.Header.Get(rampart.FenceHeader) != "3" ||
		r.Header.Get("Authorization") != "Bearer rmj_x" || r.Header.Get("Content-Type") != "application/octet-stream" {
		http.Error(w, `{"error":"bad request"}`, http.StatusBadRequest)
		return
	}
	seq, err := strconv.ParseInt(r.URL.Query().Get("seq"), 10, 64)
	if err != nil || seq < 1 {
		http.Error(w, `{"error":"bad seq"}`, http.StatusBadRequest)
		return
	}
	data, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	hold := s.hold
	s.mu.Unlock()
	if hold != nil {
		<-hold
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts = append(s.attempts, seq)
	n := 0
	for _, a := range s.attempts {
		if a == seq {
			n++
		}
	}
	if s.fail != nil {
		if code := s.fail(seq, n); code != 0 {
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"error":"failed on purpose"}`)
			return
		}
	}
	if _, ok := s.chunks[seq]; !ok {
		s.chunks[seq] = data
	}
}

// log returns the stored chunks in seq order and checks that seqs are 1..n without gaps.
func (s *chunkServer) log(t *testing.T) (string, [][]byte) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	var chunks [][]byte
	for seq := int64(1); seq <= int64(len(s.chunks)); seq++ {
		c, ok := s.chunks[seq]
		if !ok {
			t.Fatalf("chunk seqs are not contiguous: %d missing among %d chunks", seq, len(s.chunks))
		}
		b.Write(c)
		chunks = append(chunks, c)
	}
	return b.String(), chunks
}

func (s *chunkServer) stream(t *testing.T, ctx context.Context, every time.Duration) *logStream {
	log, _ := testLogger(t)
	jc := client.New(s.srv.URL, "").Job(&rampart.Lease{JobID: 1, Fence: 3, Token: "rmj_x"})
	return newLogStream(ctx, jc.UploadLog, every, log)
}

func TestLogStreamOrderAndChunkSizes(t *testing.T) {
	s := newChunkServer(t)
	ls := s.stream(t, context.Background(), 20*time.Millisecond).start()
	var want bytes.Buffer
	for i := range 20000 {
		fmt.Fprintf(&want, "line %d %s\n", i, strings.Repeat("x", i%50))
	}
	// Writes of the size a pipe delivers, with pauses that let partial chunks go out on the timer.
	for i, b := 0, want.Bytes(); len(b) > 0; i++ {
		n := min(len(b), 1+(i*7919)%8192)
		if _, err := ls.Write(b[:n]); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
		if i%40 == 0 {
			time.Sleep(30 * time.Millisecond)
		}
	}
	if err := ls.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, chunks := s.log(t)
	if got != want.String() {
		t.Fatalf("log differs: got %d bytes, want %d", len(got), want.Len())
	}
	full := 0
	for i, c := range chunks {
		if len(c) > logChunkSize || len(c) == 0 {
			t.Errorf("chunk %d has %d bytes, want 1..%d", i+1, len(c), logChunkSize)
		}
		if len(c) == logChunkSize {
			full++
		}
	}
	if want.Len() > 2*logChunkSize && full == 0 {
		t.Errorf("no chunk was full among %d chunks: output is not batched", len(chunks))
	}
}

func TestLogStreamRetriesSameSeq(t *testing.T) {
	s := newChunkServer(t)
	s.fail = func(seq int64, attempt int) int {
		if seq == 2 && attempt <= 2 {
			return []int{http.StatusServiceUnavailable, http.StatusInternalServerError}[attempt-1]
		}
		return 0
	}
	ls := s.stream(t, context.Background(), time.Hour)
	ls.chunk = 8
	ls.start()
	io.WriteString(ls, "aaaaaaaabbbbbbbbcccccccc") // three full chunks
	if err := ls.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := s.log(t)
	if got != "aaaaaaaabbbbbbbbcccccccc" {
		t.Errorf("log = %q", got)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if want := []int64{1, 2, 2, 2, 3}; fmt.Sprint(s.attempts) != fmt.Sprint(want) {
		t.Errorf("upload attempts by seq = %v, want %v (the failed chunk re-sent with the same seq, in order)", s.attempts, want)
	}
}

func TestLogStreamDropsBeyondLimit(t *testing.T) {
	s := newChunkServer(t)
	s.hold = make(chan struct{})
	ls := s.stream(t, context.Background(), time.Millisecond)
	ls.chunk, ls.limit = 256, 1024
	ls.start()

	// With the server stuck, writes must neither block nor grow the buffer beyond the limit.
	line := strings.Repeat("y", 99) + "\n"
	start := time.Now()
	total := 0
	for range 100 {
		io.WriteString(ls, line)
		total += len(line)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("writes took %s while the server was stuck", d)
	}
	ls.mu.Lock()
	buffered := len(ls.buf)
	ls.mu.Unlock()
	if buffered > ls.limit {
		t.Errorf("buffer holds %d bytes, limit %d", buffered, ls.limit)
	}
	s.mu.Lock()
	close(s.hold)
	s.hold = nil
	s.mu.Unlock()
	if err := ls.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := s.log(t)
	m := regexp.MustCompile(`\[rampart: (\d+) bytes of log dropped\]\n`).FindAllStringSubmatch(got, -1)
	if len(m) != 1 {
		t.Fatalf("want one drop marker, log is %q", got)
	}
	dropped, _ := strconv.Atoi(m[0][1])
	kept := len(got) - len(m[0][0])
	if dropped == 0 || kept+dropped != total {
		t.Errorf("kept %d + dropped %d bytes, want a total of %d", kept, dropped, total)
	}
	if !strings.HasSuffix(got, m[0][0]) {
		t.Errorf("marker is not at the end of the log: %q", got[len(got)-80:])
	}
}

func TestLogStreamMarkerBeforeLaterOutput(t *testing.T) {
	s := newChunkServer(t)
	ls := s.stream(t, context.Background(), time.Hour)
	ls.limit = 10
	// Not started: nothing is uploaded, so the limit is reached deterministically.
	io.WriteString(ls, "12345")
	io.WriteString(ls, "67890abc") // dropped
	ls.mu.Lock()
	ls.buf = ls.buf[:0] // as if uploaded
	ls.mu.Unlock()
	ls.limit = 1 << 10
	io.WriteString(ls, "after\n")
	ls.start()
	if err := ls.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := s.log(t)
	if want := "\n[rampart: 8 bytes of log dropped]\nafter\n"; got != want {
		t.Errorf("log = %q, want %q", got, want)
	}
}

func TestLogStreamFlushOnClose(t *testing.T) {
	s := newChunkServer(t)
	ls := s.stream(t, context.Background(), time.Hour).start()
	io.WriteString(ls, "short line\n")
	if err := ls.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, chunks := s.log(t); got != "short line\n" || len(chunks) != 1 {
		t.Errorf("log = %q in %d chunks, want the line in one", got, len(chunks))
	}
	// After Close, output is discarded without error.
	if n, err := io.WriteString(ls, "late"); n != 4 || err != nil {
		t.Errorf("Write after Close = %d, %v", n, err)
	}
}

func TestLogStreamStopsWhenFenced(t *testing.T) {
	s := newChunkServer(t)
	s.fail = func(int64, int) int { return http.StatusConflict }
	ls := s.stream(t, context.Background(), time.Millisecond).start()
	io.WriteString(ls, "x\n")
	err := ls.Close(context.Background())
	if rampart.ErrorCode(err) != rampart.ECONFLICT {
		t.Fatalf("Close = %v, want an ECONFLICT error", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.attempts) != 1 {
		t.Errorf("a fenced chunk was sent %d times, want once", len(s.attempts))
	}
}

func TestLogStreamCloseGivesUp(t *testing.T) {
	s := newChunkServer(t)
	s.fail = func(int64, int) int { return http.StatusServiceUnavailable }
	ls := s.stream(t, context.Background(), time.Millisecond).start()
	io.WriteString(ls, "x\n")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := ls.Close(ctx); err == nil {
		t.Error("Close succeeded although the server never accepted the log")
	}
}
