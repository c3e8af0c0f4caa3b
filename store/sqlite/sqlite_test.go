package sqlite_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/berty-go/berty/store"
	"github.com/berty-go/berty/store/sqlite"
	"github.com/berty-go/berty/store/storetest"
)

func open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Factory{
		Open: func(t *testing.T) store.Store { return open(t, filepath.Join(t.TempDir(), "berty.db")) },
		Reopen: func(t *testing.T, s store.Store) store.Store {
			path := s.(*sqlite.Store).Path()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			return open(t, path)
		},
	})
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "berty.db")
	open(t, path).Close()
	// Bump user_version behind the store's back, as a newer program would.
	rawExec(t, path, "PRAGMA user_version = 99")
	_, err := sqlite.Open(path)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("opening a newer schema: %v, want a 'newer' error", err)
	}
}
