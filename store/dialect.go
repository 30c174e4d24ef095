package store

import (
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is the SQL flavour of a DB. Everything that differs between SQLite and PostgreSQL is
// decided by a method of dialect, so that the queries themselves are written once.
type dialect int

const (
	sqliteDialect dialect = iota
	postgresDialect
)

// Keys of PostgreSQL advisory locks, paired with a hash of the schema so that Rampart
// installations in different schemas of one database do not wait for each other.
const (
	lockUpdate  = 0x52414d50 // "RAMP": held by every Update transaction
	lockMigrate = 0x52414d4d // "RAMM": held while migrating
)

func (d dialect) String() string {
	if d == postgresDialect {
		return "postgres"
	}
	return "sqlite"
}

// rebind turns the ? placeholders of query into PostgreSQL's $1, $2, …; SQLite takes query
// as it is.
func (d dialect) rebind(query string) string {
	if d != postgresDialect {
		return query
	}
	return rebind(query)
}

// rebind replaces each ? outside quoted strings and identifiers with $n, n counting from 1.
// Queries in this package contain no comments, so comments are not skipped.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var (
		b     strings.Builder
		n     int
		quote byte // the quote character of the literal or identifier we are in, or 0
	)
	b.Grow(len(query) + 8)
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			// A doubled quote ('' or "") leaves and re-enters the literal, so toggling per
			// character handles it.
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// updateOptions returns the options of an Update transaction: the default isolation on both,
// READ COMMITTED on PostgreSQL, so that SELECT … FOR UPDATE waits for and then reads the latest
// committed row instead of failing with a serialization error.
func (d dialect) updateOptions() *sql.TxOptions { return nil }

// viewOptions returns the options of a View transaction. PostgreSQL needs REPEATABLE READ for
// the transaction to see one snapshot, as SQLite's WAL readers always do; several readers of
// the audit chain rely on its head and its events agreeing.
func (d dialect) viewOptions() *sql.TxOptions {
	if d == postgresDialect {
		return &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	return &sql.TxOptions{ReadOnly: true}
}

// forUpdate returns the clause that locks the rows a SELECT reads until the transaction ends.
// SQLite has no row locks and needs none: an Update transaction holds the database's write lock.
// Read-only PostgreSQL transactions may not lock rows.
func (d dialect) forUpdate(readOnly bool) string {
	if d == postgresDialect && !readOnly {
		return " FOR UPDATE"
	}
	return ""
}

// forUpdateSkipLocked is forUpdate for a queue: a PostgreSQL SELECT passes over the rows that
// another transaction has locked instead of waiting for them, so that servers taking work at
// once each get different rows. Like forUpdate it is empty on SQLite and in read-only
// transactions.
func (d dialect) forUpdateSkipLocked(readOnly bool) string {
	if d == postgresDialect && !readOnly {
		return " FOR UPDATE SKIP LOCKED"
	}
	return ""
}

// collateBinary returns the clause that makes an ORDER BY on a text column compare bytes, as
// SQLite does by default, rather than by PostgreSQL's locale, so that lists come in one order on
// both.
func (d dialect) collateBinary() string {
	if d == postgresDialect {
		return ` COLLATE "C"`
	}
	return ""
}

// Error codes of the two drivers.
const (
	pgUniqueViolation     = "23505"
	pgForeignKeyViolation = "23503"
)

// isUnique reports whether err is a violation of a UNIQUE or PRIMARY KEY constraint.
func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == pgUniqueViolation
}

// isForeignKey reports whether err is a violation of a FOREIGN KEY constraint: a row refers to
// one that does not exist.
func isForeignKey(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == pgForeignKeyViolation
}

// Times are stored as unix microseconds: one integer type on both databases, exact, sortable,
// and free of the drivers' differing time-zone handling. Reading gives UTC.

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromNullMicros(us sql.NullInt64) *time.Time {
	if !us.Valid {
		return nil
	}
	t := fromMicros(us.Int64)
	return &t
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
