package store

import (
	"path/filepath"
	"testing"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/store/storetest"
)

// openTestSQLite opens path as a store and closes it when t ends.
func openTestSQLite(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(t.Context(), path, nil)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) rampart.Store {
		return openTestSQLite(t, filepath.Join(t.TempDir(), "rampart.db"))
	})
}

// TestSQLiteShared opens one file twice, as two server processes would.
func TestSQLiteShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rampart.db")
	storetest.RunShared(t, []rampart.Store{openTestSQLite(t, path), openTestSQLite(t, "sqlite:"+path)})
}
