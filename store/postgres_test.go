package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/store/storetest"
)

// pgURLVar names the PostgreSQL database the tests may use; each test works in a schema of its
// own there and drops it afterwards.
const pgURLVar = "RAMPART_TEST_DATABASE_URL"

const pgSkipMessage = "store: PostgreSQL tests skipped; to run them: export " + pgURLVar + "=$(bash .ci/postgres)"

func TestMain(m *testing.M) {
	if os.Getenv(pgURLVar) == "" {
		// CI must test PostgreSQL: a green run without it would claim what it did not check.
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "CI=true but "+pgURLVar+" is unset: .ci/run should have started PostgreSQL")
			os.Exit(1)
		}
		// Printed without -v too, so that nobody takes a green run for a tested PostgreSQL.
		fmt.Fprintln(os.Stderr, pgSkipMessage)
	}
	os.Exit(m.Run())
}

// pgSchema creates an empty schema in the test database, drops it when t ends, and returns the
// database's URL with that schema as the search path.
func pgSchema(t *testing.T) string {
	t.Helper()
	base := os.Getenv(pgURLVar)
	if base == "" {
		t.Skip(pgSkipMessage)
	}
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatalf("%s: %v", pgURLVar, err)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", pgURLVar, err)
	}
	admin := stdlib.OpenDB(*cfg)
	schema := "t_" + strings.ToLower(rand.Text()[:16])
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("create schema: %v", err)
	}
	// Registered before the stores' Close, so it runs after it.
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// openTestPostgres opens rawURL as a store and closes it when t ends.
func openTestPostgres(t *testing.T, rawURL string) *DB {
	t.Helper()
	db, err := Open(t.Context(), rawURL, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestPostgres(t *testing.T) {
	if os.Getenv(pgURLVar) == "" {
		t.Skip(pgSkipMessage)
	}
	storetest.Run(t, func(t *testing.T) rampart.Store { return openTestPostgres(t, pgSchema(t)) })
}

// TestPostgresShared opens one database twice, as two server processes would.
func TestPostgresShared(t *testing.T) {
	u := pgSchema(t)
	storetest.RunShared(t, []rampart.Store{openTestPostgres(t, u), openTestPostgres(t, u)})
}

// TestPostgresConcurrentOpen starts several servers on one empty database at once: the
// migration lock must let exactly one of them migrate.
func TestPostgresConcurrentOpen(t *testing.T) {
	u := pgSchema(t)
	const n = 4
	dbs := make([]*DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { dbs[i], errs[i] = Open(t.Context(), u, nil) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("Open %d: %v", i, errs[i])
			continue
		}
		if err := dbs[i].Close(); err != nil {
			t.Errorf("Close %d: %v", i, err)
		}
	}
}

// TestPostgresQueuedJobsLocks checks that QueuedJobs in an Update locks the rows it returns and
// passes over rows locked elsewhere, which is what keeps servers from leasing one job twice
// should Update ever stop taking its advisory lock.
func TestPostgresQueuedJobsLocks(t *testing.T) {
	u := pgSchema(t)
	db := openTestPostgres(t, u)
	ctx := t.Context()
	var jobs []*rampart.Job
	err := db.Update(ctx, func(tx rampart.Tx) error {
		p := &rampart.Project{Name: "web"}
		if err := tx.CreateProject(ctx, p); err != nil {
			return err
		}
		r := &rampart.Run{ProjectID: p.ID, Status: rampart.StatusQueued}
		if err := tx.CreateRun(ctx, r); err != nil {
			return err
		}
		for _, name := range []string{"first", "second"} {
			j := &rampart.Job{RunID: r.ID, ProjectID: p.ID, Name: name, Status: rampart.StatusQueued}
			if err := tx.CreateJob(ctx, j); err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Another server, without the Update lock: a transaction of its own on another connection.
	other := openTestPostgres(t, u)
	otherTx, err := other.write.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer otherTx.Rollback()

	err = db.Update(ctx, func(tx rampart.Tx) error {
		got, err := tx.QueuedJobs(ctx, 1)
		if err != nil {
			return err
		}
		if len(got) != 1 || got[0].ID != jobs[0].ID {
			t.Fatalf("QueuedJobs(1) = %v, want job %d", got, jobs[0].ID)
		}
		// The row QueuedJobs returned is locked ...
		_, err = otherTx.ExecContext(ctx, "SELECT id FROM jobs WHERE id = $1 FOR UPDATE NOWAIT", jobs[0].ID)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "55P03" {
			t.Errorf("locking the job QueuedJobs returned: error %v, want lock_not_available", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// ... and a row locked elsewhere is passed over.
	otherTx2, err := other.write.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer otherTx2.Rollback()
	if _, err := otherTx2.ExecContext(ctx, "SELECT id FROM jobs WHERE id = $1 FOR UPDATE", jobs[0].ID); err != nil {
		t.Fatal(err)
	}
	// Bounded, so that a QueuedJobs that waits for the lock instead fails rather than hangs.
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err = db.Update(waitCtx, func(tx rampart.Tx) error {
		got, err := tx.QueuedJobs(waitCtx, 2)
		if err != nil {
			return err
		}
		if len(got) != 1 || got[0].ID != jobs[1].ID {
			t.Errorf("QueuedJobs(2) with job %d locked elsewhere returned %d jobs, want only job %d", jobs[0].ID, len(got), jobs[1].ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
