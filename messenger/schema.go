package messenger

import (
	"database/sql"
	"fmt"
)

// schemaVersion is the version of the messenger's tables, in m_meta; a
// database with an older one is rebuilt from the protocol's messages.
const schemaVersion = 4

// The messenger's tables live in the account's database beside the
// protocol's (store/sqlite). They are a projection of the messages table:
// one row per message, written in the same transaction (Projector), so they
// are a function of the set of messages and Rebuild gives them back
// identical. What a UI shows — edited text, tombstones, reactions, unread
// counts — is computed from them when it is read.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS m_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID`,
	`CREATE TABLE IF NOT EXISTS m_interactions (
		topic   BLOB NOT NULL,
		lamport INTEGER NOT NULL,
		id      BLOB NOT NULL,
		device  BLOB NOT NULL,
		seq     INTEGER NOT NULL,
		member  BLOB NOT NULL,
		kind    INTEGER NOT NULL,
		body    TEXT,
		target  BLOB,
		emoji   TEXT,
		flag    INTEGER NOT NULL DEFAULT 0,
		sent_at INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (topic, lamport, id)
	) WITHOUT ROWID`,
	`CREATE UNIQUE INDEX IF NOT EXISTS m_by_id ON m_interactions (id)`,
	`CREATE INDEX IF NOT EXISTS m_by_target ON m_interactions (target, kind) WHERE target IS NOT NULL`,
	// A member's receipts, for its read and delivered markers (kind 5 is
	// kindReceipt); covering, so that the planner prefers it to the table.
	`CREATE INDEX IF NOT EXISTS m_receipts ON m_interactions (topic, member, lamport, flag, target) WHERE kind = 5`,
	// Full-text search over text bodies (and edits), keyed by the
	// messages table's rowid: contentless, so the text is stored once;
	// filled behind a cursor by the indexer (index.go).
	`CREATE VIRTUAL TABLE IF NOT EXISTS m_search USING fts5(body, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2')`,
}

var dropSchema = []string{
	`DROP TABLE IF EXISTS m_search`,
	`DROP INDEX IF EXISTS m_receipts`,
	`DROP INDEX IF EXISTS m_by_target`,
	`DROP INDEX IF EXISTS m_by_id`,
	`DROP TABLE IF EXISTS m_interactions`,
	`DROP TABLE IF EXISTS m_meta`,
}

func createSchema(tx *sql.Tx) error {
	for _, q := range schema {
		if _, err := tx.Exec(q); err != nil {
			return fmt.Errorf("create messenger tables: %w", err)
		}
	}
	// Version 0 until Rebuild has projected every message: a rebuild cut
	// short (a crash, a full disk) is started again at the next open.
	_, err := tx.Exec(`INSERT OR REPLACE INTO m_meta(key, value) VALUES ('schema', 0), ('indexed', 0)`)
	return err
}

func dropTables(tx *sql.Tx) error {
	for _, q := range dropSchema {
		if _, err := tx.Exec(q); err != nil {
			return fmt.Errorf("drop messenger tables: %w", err)
		}
	}
	return nil
}

// Interaction kinds, as stored (not on the wire: the payload's oneof is).
const (
	kindUnsupported = 0
	kindText        = 1
	kindReaction    = 2
	kindEdit        = 3
	kindDelete      = 4
	kindReceipt     = 5
	kindInvitation  = 6
	kindSettings    = 7
	// kindIgnored: a well-formed payload that means nothing to show — a
	// reaction that is not an emoji. Stored (the tables are the set of
	// messages), never displayed or counted.
	kindIgnored = 8
)
