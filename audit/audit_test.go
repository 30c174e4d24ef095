package audit_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/audit"
	"github.com/rampart-ci/rampart/store"
)

// chain returns a store holding n audit events and a raw handle on its file, the way an intruder
// with database access would see it.
func chain(t *testing.T, n int) (rampart.Store, *sql.DB) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "r.db")
	db, err := store.Open(ctx, "sqlite:"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	actor := &rampart.Actor{Name: "alice", Source: "10.0.0.1"}
	for i := range n {
		ev := audit.Event(actor, "thing.do", fmt.Sprintf("thing:%d", i), rampart.ResultSuccess)
		if err := audit.Record(ctx, db, ev, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return db, raw
}

func TestVerifyFindsTampering(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sql    []string
		broken int64
		reason string
	}{
		{"intact", nil, 0, ""},
		{"edited actor", []string{`UPDATE audit_events SET actor='mallory' WHERE seq=4`}, 4, "modified"},
		{"edited result", []string{`UPDATE audit_events SET result='denied' WHERE seq=7`}, 7, "modified"},
		{"edited time", []string{`UPDATE audit_events SET time=time+1 WHERE seq=2`}, 2, "modified"},
		{"deleted middle", []string{`DELETE FROM audit_events WHERE seq=5`}, 5, "missing"},
		{"deleted first", []string{`DELETE FROM audit_events WHERE seq=1`}, 1, "missing"},
		{"deleted last", []string{`DELETE FROM audit_events WHERE seq=10`}, 10, "deleted"},
		{"deleted last and head rewound", []string{`DELETE FROM audit_events WHERE seq=10`, `UPDATE audit_head SET seq=9`}, 9, "replaced"},
		{"swapped two rows", []string{
			`UPDATE audit_events SET seq=-3 WHERE seq=3`, `UPDATE audit_events SET seq=3 WHERE seq=6`, `UPDATE audit_events SET seq=6 WHERE seq=-3`,
		}, 3, "link"},
		{"renumbered to hide a deletion", []string{`DELETE FROM audit_events WHERE seq=5`, `UPDATE audit_events SET seq=seq-1 WHERE seq>5`, `UPDATE audit_head SET seq=9`}, 5, "link"},
		{"rehashed edit", []string{`UPDATE audit_events SET actor='mallory', hash='00' WHERE seq=8`}, 8, "modified"},
		{"appended row", []string{`INSERT INTO audit_events (seq, time, actor, action, target, source, result, detail, prev_hash, hash) SELECT 11, time, actor, action, target, source, result, detail, hash, 'x' FROM audit_events WHERE seq=10`}, 11, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, raw := chain(t, 10)
			for _, q := range tc.sql {
				if _, err := raw.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			rep, err := audit.Verify(context.Background(), db)
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK != (tc.broken == 0) || rep.BrokenSeq != tc.broken || !strings.Contains(rep.Reason, tc.reason) {
				t.Fatalf("report %+v; want broken at %d with %q", rep, tc.broken, tc.reason)
			}
		})
	}
}

// TestConcurrentAppendsFormOneChain appends from many goroutines, some of whose transactions
// fail after appending: their events must vanish with them and the chain stay whole.
func TestConcurrentAppendsFormOneChain(t *testing.T) {
	db, _ := chain(t, 0)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				_ = db.Update(ctx, func(tx rampart.Tx) error {
					if err := audit.Append(ctx, tx, audit.Event(nil, "x", fmt.Sprint(g, i), rampart.ResultSuccess), time.Now()); err != nil {
						return err
					}
					if i%5 == 0 {
						return fmt.Errorf("change failed after its audit entry")
					}
					return nil
				})
			}
		}()
	}
	wg.Wait()
	rep, err := audit.Verify(ctx, db)
	if err != nil || !rep.OK || rep.Events != 8*20 {
		t.Fatalf("verify: %+v %v; want OK with 160 events", rep, err)
	}
	var b strings.Builder
	if err := audit.Export(ctx, db, 150, &b); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "\n"); n != 10 {
		t.Fatalf("export after 150: %d lines, want 10", n)
	}
}

// TestAuditFailureFailsTheChange: a change whose audit entry cannot be written does not happen.
func TestAuditFailureFailsTheChange(t *testing.T) {
	db, raw := chain(t, 1)
	ctx := context.Background()
	// Break the head so the next append cannot link: the store refuses it.
	if _, err := raw.Exec(`UPDATE audit_head SET hash='bogus'`); err != nil {
		t.Fatal(err)
	}
	err := db.Update(ctx, func(tx rampart.Tx) error {
		p := &rampart.Project{Name: "web", RepoURL: "/x", CreatedAt: time.Now()}
		if err := tx.CreateProject(ctx, p); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Event(nil, "project.create", "project:web", rampart.ResultSuccess), time.Now())
	})
	t.Logf("append on a broken head: %v", err)
	var n int
	if err := raw.QueryRow(`SELECT count(*) FROM projects`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err == nil && n == 1 {
		// The store accepted the append; the chain must then say it is broken.
		rep, _ := audit.Verify(ctx, db)
		if rep.OK {
			t.Fatal("append over a tampered head went unnoticed")
		}
		return
	}
	if n != 0 {
		t.Fatalf("project written although its audit entry failed")
	}
}
