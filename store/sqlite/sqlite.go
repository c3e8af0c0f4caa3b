// Package sqlite is the real store.Store: one SQLite database file per
// account, through the pure-Go modernc.org/sqlite driver.
//
// The database runs in WAL mode with synchronous=FULL, so a Commit that
// returned is on disk. A Commit is one transaction however many entries it
// holds: with fsync costing hundreds of microseconds, batching many entries
// per commit is how a node stores tens of thousands of entries per second.
// Open reads nothing but the schema version; the node then reads the account
// and group snapshots, never the whole history. The file can be inspected with
// the stock sqlite3 shell; the schema is in schema.go and docs/protocol.md §8.
package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/store"
)

// Store is a store.Store on a SQLite file. It is safe for concurrent use.
type Store struct {
	db   *sql.DB
	path string

	mu        sync.Mutex // serialises Commit and guards closed and relaxed
	closed    bool
	relaxed   bool // the connection runs synchronous=NORMAL (a Recoverable batch)
	projector Projector

	insEntry, insMsg, getEntry, entriesAfter *sql.Stmt
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path.
func Open(path string) (*Store, error) {
	// The database holds the account's secrets: create it readable by its
	// owner only (SQLite gives the -wal and -shm files the database's mode).
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err == nil {
		f.Close()
	} else {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	q := url.Values{}
	// secure_delete: what a commit deletes or overwrites is zeroed in the
	// database file, not left in free space (deleted keys, §6.4).
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(5000)", "foreign_keys(1)", "secure_delete(1)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// One connection: SQLite has one writer anyway, and a single connection
	// keeps the WAL and the prepared statements simple. Reads by the node
	// happen on its own goroutine between commits.
	db.SetMaxOpenConns(1)
	s := &Store{db: db, path: path}
	if err := s.migrate(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	for _, p := range []struct {
		st  **sql.Stmt
		sql string
	}{
		{&s.insEntry, `INSERT OR IGNORE INTO entries(topic, device, seq, id, lamport, raw) VALUES (?, ?, ?, ?, ?, ?)`},
		{&s.insMsg, `INSERT OR IGNORE INTO messages(topic, device, seq, member, lamport, entry_id, own, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`},
		{&s.getEntry, `SELECT id, lamport FROM entries WHERE topic = ? AND device = ? AND seq = ?`},
		{&s.entriesAfter, `SELECT raw FROM entries WHERE topic = ? AND device = ? AND seq > ? ORDER BY seq LIMIT ?`},
	} {
		if *p.st, err = db.Prepare(p.sql); err != nil {
			db.Close()
			return nil, fmt.Errorf("open %s: prepare: %w", path, err)
		}
	}
	return s, nil
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

func (s *Store) check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	return nil
}

// Account implements store.Store.
func (s *Store) Account() (*store.Account, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var a store.Account
	var as, ds []byte
	err := s.db.QueryRow(`SELECT account_seed, device_seed, name FROM account WHERE id = 1`).Scan(&as, &ds, &a.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNoAccount
	}
	if err != nil {
		return nil, fmt.Errorf("read account: %w", err)
	}
	if len(as) != 32 || len(ds) != 32 {
		return nil, fmt.Errorf("read account: corrupted key columns")
	}
	copy(a.AccountSeed[:], as)
	copy(a.DeviceSeed[:], ds)
	return &a, nil
}

// SetAccount implements store.Store.
func (s *Store) SetAccount(a *store.Account) error {
	if err := s.check(); err != nil {
		return err
	}
	_, err := s.db.Exec(`INSERT INTO account(id, account_seed, device_seed, name) VALUES (1, ?, ?, ?)
		ON CONFLICT(id) DO UPDATE SET account_seed = excluded.account_seed, device_seed = excluded.device_seed, name = excluded.name`,
		a.AccountSeed[:], a.DeviceSeed[:], a.Name)
	if err != nil {
		return fmt.Errorf("write account: %w", err)
	}
	return nil
}

// Groups implements store.Store.
func (s *Store) Groups() ([]store.Group, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(`SELECT topic, kind, group_id, secret, id_seed, owners, snapshot FROM groups ORDER BY rowid`)
	if err != nil {
		return nil, fmt.Errorf("read groups: %w", err)
	}
	defer rows.Close()
	var out []store.Group
	for rows.Next() {
		var g store.Group
		var topic, id, secret, idSeed, owners []byte
		if err := rows.Scan(&topic, &g.Kind, &id, &secret, &idSeed, &owners, &g.Snapshot); err != nil {
			return nil, fmt.Errorf("read groups: %w", err)
		}
		if len(topic) != 32 || len(id) != 32 || len(secret) != 32 || len(owners)%32 != 0 || (idSeed != nil && len(idSeed) != 32) {
			return nil, fmt.Errorf("read groups: corrupted row")
		}
		copy(g.Topic[:], topic)
		copy(g.ID[:], id)
		copy(g.Secret[:], secret)
		if idSeed != nil {
			g.IDSeed = new([32]byte)
			copy(g.IDSeed[:], idSeed)
		}
		for i := 0; i < len(owners); i += 32 {
			g.Owners = append(g.Owners, keys.Public(owners[i:i+32]))
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// Commit implements store.Store: one transaction for the whole batch.
func (s *Store) Commit(b *store.Batch) error {
	if err := store.Validate(b); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	// synchronous is a per-connection setting, changed outside transactions;
	// the store has a single connection.
	if b.Recoverable != s.relaxed {
		mode := "FULL"
		if b.Recoverable {
			mode = "NORMAL"
		}
		if _, err := s.db.Exec("PRAGMA synchronous = " + mode); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		s.relaxed = b.Recoverable
	}
	tx, err := s.db.Begin()
	if err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if err := s.write(tx, b); err != nil {
		tx.Rollback()
		return fmt.Errorf("commit: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if b.Erase {
		// The write-ahead log still holds the pages as they were before:
		// copy the new ones into the database and empty the log.
		var busy, logged, done int
		if err := s.db.QueryRow(`PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logged, &done); err != nil {
			return fmt.Errorf("commit: erase: %w", err)
		}
		if busy != 0 {
			return fmt.Errorf("commit: erase: the write-ahead log is in use")
		}
	}
	return nil
}

func (s *Store) write(tx *sql.Tx, b *store.Batch) error {
	for _, g := range b.Groups {
		var idSeed []byte
		if g.IDSeed != nil {
			idSeed = g.IDSeed[:]
		}
		owners := make([]byte, 0, 32*len(g.Owners))
		for _, o := range g.Owners {
			owners = append(owners, o[:]...)
		}
		if _, err := tx.Exec(`INSERT INTO groups(topic, kind, group_id, secret, id_seed, owners, snapshot) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(topic) DO UPDATE SET snapshot = excluded.snapshot, id_seed = coalesce(groups.id_seed, excluded.id_seed)`,
			g.Topic[:], g.Kind, g.ID[:], g.Secret[:], idSeed, owners, g.Snapshot); err != nil {
			return fmt.Errorf("write group: %w", err)
		}
	}
	for _, t := range b.Truncations {
		if s.projector != nil {
			if err := s.projector.Truncate(tx, t); err != nil {
				return fmt.Errorf("project a truncation: %w", err)
			}
		}
		for _, table := range []string{"entries", "messages"} {
			if _, err := tx.Exec(`DELETE FROM `+table+` WHERE topic = ? AND device = ? AND seq > ?`, t.Topic[:], t.Device[:], t.After); err != nil {
				return fmt.Errorf("truncate %s: %w", table, err)
			}
		}
	}
	if len(b.Entries) > 0 {
		st := tx.Stmt(s.insEntry)
		for _, e := range b.Entries {
			if _, err := st.Exec(e.Topic[:], e.Device[:], e.Seq, e.ID[:], e.Lamport, e.Raw); err != nil {
				return fmt.Errorf("write entry: %w", err)
			}
		}
	}
	if len(b.Messages) > 0 {
		st := tx.Stmt(s.insMsg)
		for _, m := range b.Messages {
			// An empty body arrives as nil, which the driver binds as NULL:
			// the NOT NULL column would make INSERT OR IGNORE drop the
			// message without a word.
			body := m.Body
			if body == nil {
				body = []byte{}
			}
			if _, err := st.Exec(m.Topic[:], m.Device[:], m.Seq, m.Member[:], m.Lamport, m.ID[:], m.Own, body); err != nil {
				return fmt.Errorf("write message: %w", err)
			}
		}
		if s.projector != nil {
			if err := s.projector.Project(tx, b.Messages); err != nil {
				return fmt.Errorf("project messages: %w", err)
			}
		}
	}
	return nil
}

// Entry implements store.Store.
func (s *Store) Entry(topic [32]byte, device keys.Public, seq uint64) (feed.Head, bool, error) {
	if err := s.check(); err != nil {
		return feed.Head{}, false, err
	}
	var id []byte
	h := feed.Head{Seq: seq}
	err := s.getEntry.QueryRow(topic[:], device[:], seq).Scan(&id, &h.Lamport)
	if errors.Is(err, sql.ErrNoRows) {
		return feed.Head{}, false, nil
	}
	if err != nil {
		return feed.Head{}, false, fmt.Errorf("read entry: %w", err)
	}
	copy(h.ID[:], id)
	return h, true, nil
}

// EntriesAfter implements store.Store.
func (s *Store) EntriesAfter(topic [32]byte, device keys.Public, after uint64, limit int) ([][]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.entriesAfter.Query(topic[:], device[:], after, limit)
	if err != nil {
		return nil, fmt.Errorf("read entries: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("read entries: %w", err)
		}
		out = append(out, raw)
	}
	return out, rows.Err()
}

// Messages implements store.Store.
func (s *Store) Messages(topic [32]byte, after store.Cursor, limit int) ([]store.Message, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.db.Query(`SELECT device, seq, member, lamport, entry_id, own, body FROM messages
		WHERE topic = ? AND (lamport > ? OR (lamport = ? AND entry_id > ?))
		ORDER BY lamport, entry_id LIMIT ?`, topic[:], after.Lamport, after.Lamport, after.ID[:], limit)
	if err != nil {
		return nil, fmt.Errorf("read messages: %w", err)
	}
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		m := store.Message{Topic: topic}
		var dev, member, id []byte
		if err := rows.Scan(&dev, &m.Seq, &member, &m.Lamport, &id, &m.Own, &m.Body); err != nil {
			return nil, fmt.Errorf("read messages: %w", err)
		}
		copy(m.Device[:], dev)
		copy(m.Member[:], member)
		copy(m.ID[:], id)
		out = append(out, m)
	}
	return out, rows.Err()
}

// CountMessages implements store.Store.
func (s *Store) CountMessages(topic [32]byte) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM messages WHERE topic = ?`, topic[:]).Scan(&n); err != nil {
		return 0, fmt.Errorf("count messages: %w", err)
	}
	return n, nil
}

// Close implements store.Store. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.db.Close()
}
