package store

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/rampart-ci/rampart"
)

// forEachDialect runs fn on an empty SQLite database and, when PostgreSQL tests are enabled, on
// an empty PostgreSQL schema; url opens it.
func forEachDialect(t *testing.T, fn func(t *testing.T, url string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, filepath.Join(t.TempDir(), "rampart.db")) })
	t.Run("postgres", func(t *testing.T) { fn(t, pgSchema(t)) })
}

func TestLoadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name  string
		fsys  fstest.MapFS
		names []string
		err   string
	}{
		{"ordered by number", fstest.MapFS{
			"migrations/0010_ten.sql":  file("10"),
			"migrations/0002_two.sql":  file("2"),
			"migrations/0001_init.sql": file("1"),
		}, []string{"0001_init.sql", "0002_two.sql", "0010_ten.sql"}, ""},
		{"duplicate number", fstest.MapFS{
			"migrations/0001_a.sql": file(""),
			"migrations/0001_b.sql": file(""),
		}, nil, "same number"},
		{"bad name", fstest.MapFS{"migrations/1_init.sql": file("")}, nil, "1_init.sql"},
		{"not sql", fstest.MapFS{"migrations/0001_init.txt": file("")}, nil, "0001_init.txt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := loadMigrations(tt.fsys)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one mentioning %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, m := range ms {
				names = append(names, m.name)
			}
			if strings.Join(names, " ") != strings.Join(tt.names, " ") {
				t.Errorf("order %v, want %v", names, tt.names)
			}
		})
	}
}

// TestReopen checks that a reopened database keeps its data and its migrations are not applied
// again.
func TestReopen(t *testing.T) {
	forEachDialect(t, func(t *testing.T, url string) {
		var logs bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&logs, nil))
		db, err := Open(t.Context(), url, logger)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), "0001_foundation.sql") {
			t.Errorf("first Open did not log applying 0001_foundation.sql:\n%s", logs.String())
		}
		err = db.Update(t.Context(), func(tx rampart.Tx) error {
			return tx.CreateUser(t.Context(), &rampart.User{Name: "alice", Role: rampart.RoleAdmin}, "h")
		})
		if err != nil {
			t.Fatal(err)
		}
		applied := migrationRows(t, db)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}

		logs.Reset()
		db, err = Open(t.Context(), url, logger)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer db.Close()
		if strings.Contains(logs.String(), "applied database migration") {
			t.Errorf("reopening applied migrations again:\n%s", logs.String())
		}
		if again := migrationRows(t, db); again != applied {
			t.Errorf("schema_migrations after reopen:\n%s\nwant\n%s", again, applied)
		}
		err = db.View(t.Context(), func(tx rampart.Tx) error {
			_, err := tx.UserByName(t.Context(), "alice")
			return err
		})
		if err != nil {
			t.Errorf("alice after reopen: %v", err)
		}
	})
}

// migrationRows returns schema_migrations as text.
func migrationRows(t *testing.T, db *DB) string {
	t.Helper()
	rows, err := db.read.QueryContext(t.Context(), "SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var (
			v, at int64
			name  string
		)
		if err := rows.Scan(&v, &name, &at); err != nil {
			t.Fatal(err)
		}
		b.WriteString(strings.Join([]string{name, fromMicros(at).Format(time.RFC3339Nano)}, " ") + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestMigrationFailure checks that a failing migration changes nothing and stops Open.
func TestMigrationFailure(t *testing.T) {
	forEachDialect(t, func(t *testing.T, url string) {
		db, err := Open(t.Context(), url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ms, err := loadMigrations(migrationFS)
		if err != nil {
			t.Fatal(err)
		}
		bad := migration{version: len(ms) + 1, name: "9999_bad.sql",
			sql: "CREATE TABLE half (a INTEGER);\nINSERT INTO users (name) VALUES ('no-role');"}
		if err := db.applyMigrations(t.Context(), append(ms, bad)); err == nil || !strings.Contains(err.Error(), "9999_bad.sql") {
			t.Fatalf("applying a failing migration: error %v, want one naming it", err)
		}
		var n int
		if err := db.read.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(ms) {
			t.Errorf("%d migrations recorded, want %d", n, len(ms))
		}
		if _, err := db.read.ExecContext(t.Context(), "SELECT * FROM half"); err == nil {
			t.Error("the failed migration's first table exists")
		}
	})
}

// TestNewerSchema checks that Open refuses a database migrated by a newer Rampart.
func TestNewerSchema(t *testing.T) {
	forEachDialect(t, func(t *testing.T, url string) {
		db, err := Open(t.Context(), url, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.write.ExecContext(t.Context(), db.dialect.rebind("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
			9999, "9999_future.sql", 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		db, err = Open(t.Context(), url, nil)
		if err == nil {
			db.Close()
			t.Fatal("Open of a database from a newer version succeeded")
		}
		if rampart.ErrorCode(err) != rampart.EPRECONDITION || !strings.Contains(err.Error(), "9999_future.sql") {
			t.Errorf("error %v, want EPRECONDITION naming 9999_future.sql", err)
		}
	})
}

func TestSQLiteFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "rampart.db")
	db, err := Open(t.Context(), "sqlite:"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(t.Context(), func(tx rampart.Tx) error {
		return tx.CreateProject(t.Context(), &rampart.Project{Name: "web"})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %o, want 600", p, mode)
		}
	}
	fi, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o700 {
		t.Errorf("created directory has mode %o, want 700", mode)
	}
	var mode string
	if err := db.read.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode %q, want wal", mode)
	}
}

func TestOpenInvalid(t *testing.T) {
	for _, url := range []string{"", "sqlite:", ":memory:", "sqlite::memory:", "file:x.db", "mysql://localhost/db",
		"rampart.db?mode=ro", "postgres://user:secret@[::1", "postgres://u:secret@127.0.0.1:1/db?connect_timeout=zzz"} {
		t.Run(url, func(t *testing.T) {
			db, err := Open(context.Background(), url, nil)
			if err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

func TestSQLitePath(t *testing.T) {
	for in, want := range map[string]string{
		"sqlite:rampart.db":        "rampart.db",
		"sqlite:/var/lib/r.db":     "/var/lib/r.db",
		"sqlite:///var/lib/r.db":   "/var/lib/r.db",
		"sqlite://data/rampart.db": "data/rampart.db",
	} {
		if got := sqlitePath(in); got != want {
			t.Errorf("sqlitePath(%q) = %q, want %q", in, got, want)
		}
	}
}
