package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
)

// manyRuns gives project p n runs, stored directly, and returns a session cookie of the viewer.
func manyRuns(tb testing.TB, f *fixture, n int) *http.Cookie {
	tb.Helper()
	ctx := context.Background()
	f.update(func(ctx context.Context, tx rampart.Tx) error {
		for i := range n {
			run := &rampart.Run{ProjectID: f.project.ID, Event: rampart.EventPush, Ref: "refs/heads/main", Branch: "main",
				Commit: fmt.Sprintf("%040x", i), TriggeredBy: "webhook:github", Status: rampart.StatusSucceeded, CreatedAt: time.Now()}
			if err := tx.CreateRun(ctx, run); err != nil {
				return err
			}
		}
		return nil
	})
	var u *rampart.User
	_ = f.db.View(ctx, func(tx rampart.Tx) (err error) {
		u, err = tx.UserByName(ctx, "viewer")
		return err
	})
	id, _, err := f.auth.CreateSession(ctx, u, "bench")
	if err != nil {
		tb.Fatal(err)
	}
	return &http.Cookie{Name: "rampart_session", Value: id}
}

// TestRunsPageOf10000Runs pages through a project with 10,000 runs: 50 a page, newest first,
// each page linking to the next older one.
func TestRunsPageOf10000Runs(t *testing.T) {
	f := newFixture(t, false)
	cookie := manyRuns(t, f, 10000)
	path := "/projects/p"
	for page := 0; page < 3; page++ {
		req := httptest.NewRequest("GET", path, nil)
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		start := time.Now()
		f.srv.Handler().ServeHTTP(rec, req)
		took := time.Since(start)
		body := rec.Body.String()
		if rec.Code != 200 || strings.Count(body, `<th scope="row">`) != 50 {
			t.Fatalf("%s: %d, %d rows", path, rec.Code, strings.Count(body, `<th scope="row">`))
		}
		first := 10000 - 50*page
		if !strings.Contains(body, fmt.Sprintf(">#%d<", first)) || !strings.Contains(body, fmt.Sprintf(">#%d<", first-49)) || strings.Contains(body, fmt.Sprintf(">#%d<", first-50)) {
			t.Fatalf("%s: page %d does not hold runs #%d to #%d", path, page, first, first-49)
		}
		next := regexpFind(body, `href="(/projects/p\?before=\d+)"`)
		if next == "" {
			t.Fatalf("%s: no link to older runs", path)
		}
		t.Logf("page %d rendered in %s", page, took)
		path = next
	}
}

// BenchmarkRunsPage renders the runs page of a project with 10,000 runs through the whole
// server (session check, permission, query, template), on the first page and deep in the list.
// The aim is well under 50 ms a page.
func BenchmarkRunsPage(b *testing.B) {
	f := newFixture(b, false)
	cookie := manyRuns(b, f, 10000)
	var deep int64
	_ = f.db.View(context.Background(), func(tx rampart.Tx) error {
		runs, err := tx.ListRuns(context.Background(), rampart.RunFilter{ProjectID: f.project.ID, Limit: 5001})
		deep = runs[len(runs)-1].ID
		return err
	})
	for _, bc := range []struct{ name, path string }{
		{"newest", "/projects/p"},
		{"page100", fmt.Sprintf("/projects/p?before=%d", deep)},
		{"dashboard", "/"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := f.srv.Handler()
			for b.Loop() {
				req := httptest.NewRequest("GET", bc.path, nil)
				req.AddCookie(cookie)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("%s: %d", bc.path, rec.Code)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/page")
		})
	}
}
