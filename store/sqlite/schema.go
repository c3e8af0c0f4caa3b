package sqlite

import "fmt"

// schemaVersion is stored in PRAGMA user_version. A database written by a
// newer version is refused rather than misread.
const schemaVersion = 1

// schema is the whole database (docs/protocol.md §8). Keys and secrets are
// BLOB columns kept apart from indexed ones, so they can be sealed at rest
// later without changing the indexes.
const schema = `
CREATE TABLE account (
	id           INTEGER PRIMARY KEY CHECK (id = 1),
	account_seed BLOB NOT NULL,
	device_seed  BLOB NOT NULL,
	name         TEXT NOT NULL
);
CREATE TABLE groups (
	topic    BLOB PRIMARY KEY,
	kind     INTEGER NOT NULL,
	group_id BLOB NOT NULL,
	secret   BLOB NOT NULL,
	id_seed  BLOB,
	owners   BLOB NOT NULL,
	snapshot BLOB
);
CREATE TABLE entries (
	topic   BLOB NOT NULL,
	device  BLOB NOT NULL,
	seq     INTEGER NOT NULL,
	id      BLOB NOT NULL,
	lamport INTEGER NOT NULL,
	raw     BLOB NOT NULL,
	PRIMARY KEY (topic, device, seq)
) WITHOUT ROWID;
CREATE TABLE messages (
	topic    BLOB NOT NULL,
	device   BLOB NOT NULL,
	seq      INTEGER NOT NULL,
	member   BLOB NOT NULL,
	lamport  INTEGER NOT NULL,
	entry_id BLOB NOT NULL,
	own      INTEGER NOT NULL,
	body     BLOB NOT NULL,
	PRIMARY KEY (topic, device, seq)
);
CREATE INDEX messages_order ON messages (topic, lamport, entry_id);
`

func (s *Store) migrate() error {
	var v int
	if err := s.db.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	switch {
	case v == schemaVersion:
		return nil
	case v > schemaVersion:
		return fmt.Errorf("database schema version %d is newer than this program's (%d): upgrade berty", v, schemaVersion)
	case v != 0:
		return fmt.Errorf("database schema version %d has no migration", v)
	}
	tx, err := s.db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(schema); err != nil {
		return fmt.Errorf("create schema: %w", err)
	}
	if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}
