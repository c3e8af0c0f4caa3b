package sqlite

import (
	"database/sql"
	"fmt"

	"github.com/berty-go/berty/store"
)

// Projector keeps derived tables (the messenger's) in step with the
// messages table, inside the transaction that changes it: a crash can never
// leave them behind or ahead of the protocol's own tables.
type Projector interface {
	// Truncate runs before a feed's messages after a seq are deleted
	// (a cut-off, docs/protocol.md §5.3).
	Truncate(tx *sql.Tx, t store.Truncation) error
	// Project runs after new messages are inserted (already stored ones,
	// delivered again, are in msgs too: projecting must be idempotent).
	Project(tx *sql.Tx, msgs []store.Message) error
}

// SetProjector installs p; every later Commit calls it. Install it before the
// node opens.
func (s *Store) SetProjector(p Projector) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.projector = p
}

// Update runs fn in one durable transaction, serialised with Commit: how
// derived tables are created, migrated and rebuilt.
func (s *Store) Update(fn func(tx *sql.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	if s.relaxed {
		if _, err := s.db.Exec("PRAGMA synchronous = FULL"); err != nil {
			return fmt.Errorf("update: %w", classify(err))
		}
		s.relaxed = false
	}
	tx, err := s.db.Begin()
	if err != nil {
		return fmt.Errorf("update: %w", classify(err))
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("update: %w", classify(err))
	}
	return nil
}

// View runs fn with the store's connection, serialised with Commit: for
// reads that must see a consistent state between commits.
func (s *Store) View(fn func(db *sql.DB) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	return fn(s.db)
}
