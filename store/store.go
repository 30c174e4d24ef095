// Package store keeps Rampart's state in SQLite (the embedded default) or PostgreSQL (for several
// server replicas) behind rampart.Store. Both dialects share one schema, applied by embedded
// migrations at Open, and one SQL text per query; the few differences stay inside this package.
// store/storetest holds the conformance suite that both pass.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"

	"github.com/rampart-ci/rampart"
)

// DB is a rampart.Store on SQLite or PostgreSQL. It is safe for concurrent use; fn passed to
// Update must not itself call Update on the same DB, which would wait for itself.
type DB struct {
	dialect dialect
	// write runs Update transactions. On SQLite it holds a single connection, so that writers
	// queue in Go rather than spinning on SQLITE_BUSY.
	write *sql.DB
	// read runs View transactions: a separate pool on SQLite, so that readers never wait for the
	// writer; the same pool as write on PostgreSQL.
	read   *sql.DB
	logger *slog.Logger
}

// busyTimeout is how long SQLite waits for another process's lock before failing with
// SQLITE_BUSY. Within one process writers queue on the single write connection instead.
const busyTimeout = 10 * time.Second

// Open opens the database named by url and brings its schema up to date. url is a PostgreSQL
// URL (postgres://… or postgresql://…), or an SQLite file as a plain path or sqlite:PATH; a
// missing SQLite file is created with mode 0600. A nil logger discards logs.
func Open(ctx context.Context, url string, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var (
		db  *DB
		err error
	)
	switch {
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		db, err = openPostgres(url, logger)
	case strings.HasPrefix(url, "sqlite:"):
		db, err = openSQLite(ctx, sqlitePath(url), logger)
	case strings.Contains(url, "://"):
		return nil, rampart.Errorf(rampart.EINVALID, "unsupported database URL scheme in %q", redact(url)).
			WithDetail("use postgres://…, sqlite:PATH or a file path")
	default:
		db, err = openSQLite(ctx, url, logger)
	}
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return db, nil
}

// sqlitePath strips the sqlite: or sqlite:// prefix from url.
func sqlitePath(url string) string {
	p := strings.TrimPrefix(url, "sqlite:")
	if rest, ok := strings.CutPrefix(p, "//"); ok {
		// sqlite:///abs/path and sqlite://rel/path, as some tools write them.
		p = rest
	}
	return p
}

func openSQLite(ctx context.Context, path string, logger *slog.Logger) (*DB, error) {
	switch {
	case path == "":
		return nil, rampart.Errorf(rampart.EINVALID, "empty SQLite database path")
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		// Each pooled connection would see a database of its own, or SQLite would parse the
		// name as a URI with its own options.
		return nil, rampart.Errorf(rampart.EINVALID, "SQLite database %q is not a file path", path)
	case strings.ContainsAny(path, "?#"):
		// The driver splits its DSN at the first '?'.
		return nil, rampart.Errorf(rampart.EINVALID, "SQLite database path %q contains '?' or '#'", path)
	}
	if err := createPrivate(path); err != nil {
		return nil, err
	}

	pragmas := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)",
		busyTimeout.Milliseconds())
	// _txlock=immediate: an Update takes the write lock at BEGIN, so it waits there (under
	// busy_timeout) rather than failing with SQLITE_BUSY when a read turns into a write.
	write, err := openSQLitePool(path + "?" + pragmas + "&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)
	// Switching to WAL writes the file, so do it once on the writer before readers connect.
	if err := write.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("open SQLite database %s: %w", path, err), write.Close())
	}
	// query_only makes a write inside View fail instead of silently succeeding.
	read, err := openSQLitePool(path + "?" + pragmas + "&_pragma=query_only(1)")
	if err != nil {
		return nil, errors.Join(err, write.Close())
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(readers)
	// Keep them all: a new connection runs the pragmas again.
	read.SetMaxIdleConns(readers)
	if err := read.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("open SQLite database %s: %w", path, err), read.Close(), write.Close())
	}
	// SQLite gives -wal and -shm the main file's mode, but files left by an older version or
	// another tool may be looser; they hold the same data as the main file.
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Chmod(path+suffix, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			logger.Warn("cannot restrict SQLite file permissions", "file", path+suffix, "err", err)
		}
	}
	logger.Info("opened database", "dialect", "sqlite", "path", path)
	return &DB{dialect: sqliteDialect, write: write, read: read, logger: logger}, nil
}

func openSQLitePool(dsn string) (*sql.DB, error) {
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("open SQLite database: %w", err)
	}
	return sql.OpenDB(c), nil
}

// createPrivate creates path with mode 0600, and its directory with 0700, when they are
// missing, because SQLite would create the file with the umask's mode: readable by everyone
// on most systems, and the database holds password hashes and the audit log.
func createPrivate(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create database directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create SQLite database: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create SQLite database: %w", err)
	}
	return nil
}

func openPostgres(rawURL string, logger *slog.Logger) (*DB, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		// pgx's error can quote the URL, password included.
		return nil, rampart.Errorf(rampart.EINVALID, "invalid PostgreSQL URL %q", redact(rawURL))
	}
	pool := stdlib.OpenDB(*cfg)
	pool.SetMaxOpenConns(20)
	pool.SetMaxIdleConns(10)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	logger.Info("opened database", "dialect", "postgres", "url", redact(rawURL))
	return &DB{dialect: postgresDialect, write: pool, read: pool, logger: logger}, nil
}

// redact hides the password in a database URL, for logs and messages.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Update implements rampart.Store. It returns fn's error unchanged, so that callers can inspect
// it with errors.As; if fn panics, the transaction is rolled back and the panic goes on. On
// PostgreSQL it first takes a transaction-scoped advisory lock, which serialises Update
// transactions of every server process on the same schema, as SQLite's write lock does, and
// rules out deadlocks between them.
func (db *DB) Update(ctx context.Context, fn func(rampart.Tx) error) error {
	return db.run(ctx, db.write, db.dialect.updateOptions(), false, fn)
}

// View implements rampart.Store. Its transaction reads one snapshot of the database (REPEATABLE
// READ on PostgreSQL) and refuses writes.
func (db *DB) View(ctx context.Context, fn func(rampart.Tx) error) error {
	return db.run(ctx, db.read, db.dialect.viewOptions(), true, fn)
}

func (db *DB) run(ctx context.Context, pool *sql.DB, opts *sql.TxOptions, readOnly bool, fn func(rampart.Tx) error) error {
	sqlTx, err := pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	committed := false
	defer func() {
		// Also reached when fn panics, so that the connection goes back to the pool clean.
		if committed {
			return
		}
		if err := sqlTx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
			db.logger.Warn("roll back transaction", "err", err)
		}
	}()
	t := &tx{tx: sqlTx, dialect: db.dialect, readOnly: readOnly}
	if !readOnly && db.dialect == postgresDialect {
		if _, err := t.exec(ctx, "SELECT pg_advisory_xact_lock(?, hashtext(COALESCE(current_schema(), '')))", lockUpdate); err != nil {
			return fmt.Errorf("take update lock: %w", err)
		}
	}
	if err := fn(t); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	committed = true
	return nil
}

// Ping implements rampart.Store.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.write.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	if db.read != db.write {
		if err := db.read.PingContext(ctx); err != nil {
			return fmt.Errorf("ping database: %w", err)
		}
	}
	return nil
}

// Close implements rampart.Store. Call it once the last transaction has ended.
func (db *DB) Close() error {
	var errs []error
	if db.read != db.write {
		errs = append(errs, db.read.Close())
	}
	errs = append(errs, db.write.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	return nil
}

var _ rampart.Store = (*DB)(nil)
