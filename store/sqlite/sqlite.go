// Package sqlite is the real store.Store: one SQLite database file per
// account, through the cgo-free github.com/ncruces/go-sqlite3 driver.
//
// The database runs in WAL mode with synchronous=FULL, so a Commit that
// returned is on disk. A Commit is one transaction however many entries it
// holds: with fsync costing hundreds of microseconds, batching many entries
// per commit is how a node stores tens of thousands of entries per second.
// Open reads nothing but the schema version; the node then reads the account
// and group snapshots, never the whole history. The schema is in schema.go
// and docs/protocol.md §8.
//
// Opened with a key (Options.Key), the database is encrypted at rest: every
// page, the write-ahead log and temporary files go through the Adiantum VFS
// (a tweakable wide-block cipher over 4 KiB blocks), and every page carries
// an 8-byte checksum inside the encryption, so a page modified on disk fails
// its check when read (ErrTampered) instead of decrypting to a wrong state
// (docs/architecture.md "Encryption at rest"). A plaintext database opened
// with a key is converted in place first if it was marked for it
// (MarkForEncryption, encrypt.go), and refused otherwise.
package sqlite

import (
	"bytes"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/driver"
	"github.com/ncruces/go-sqlite3/ext/fts5"
	"lukechampine.com/adiantum"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/store"
)

// ErrTampered is returned (wrapped) when a page of the database fails its
// check: the file was modified outside berty, or the disk corrupted it.
var ErrTampered = errors.New("the database file was modified outside berty or is corrupted (a page fails its check)")

// ErrWrongKey is returned by Open when the key does not open the database.
var ErrWrongKey = errors.New("the database does not open with this key")

// ErrEncrypted is returned by Open without a key on an encrypted database.
var ErrEncrypted = errors.New("the database is encrypted: a key is needed")

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

// Options configures Open.
type Options struct {
	// Key, if set, is the database's data key: the file is encrypted at
	// rest with it (created encrypted, or converted if it is plaintext and
	// marked, MarkForEncryption).
	// Without a key the file is plaintext, for tests and tools.
	Key *[32]byte
}

// Open opens (creating if needed) the plaintext database at path.
func Open(path string) (*Store, error) { return OpenWith(path, Options{}) }

// OpenWith opens (creating if needed) the database at path.
func OpenWith(path string, o Options) (*Store, error) {
	kind, err := fileKind(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	switch {
	case kind == KindEncrypted && o.Key != nil:
		// Check the key on the header before SQLite opens the file: with
		// a wrong key, its recovery would read the log as garbage and
		// reset it, losing the commits a crash left there.
		if err := checkKey(path, o.Key); err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
	case kind == KindEncrypted && o.Key == nil:
		return nil, fmt.Errorf("open %s: %w", path, ErrEncrypted)
	case kind == KindPlain && o.Key != nil:
		if !marked(path) {
			return nil, fmt.Errorf("open %s: %w", path, ErrNotMarked)
		}
		if err := encryptInPlace(path, o.Key, nil); err != nil {
			return nil, fmt.Errorf("open %s: encrypt the plaintext database: %w", path, err)
		}
	}
	// The database holds the account's secrets: create it readable by its
	// owner only (vfs.go does the same for the log).
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err == nil {
		f.Close()
	} else {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db, err := openDB(path, o.Key, kind == KindEmpty)
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
		// The key was checked on the header (checkKey): a page that fails
		// now was modified.
		return nil, fmt.Errorf("open %s: %w", path, classify(err))
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

// openDB opens the database file through the driver. fresh says the file
// is empty: an encrypted one then gets its page checksums turned on before
// anything is written.
func openDB(path string, key *[32]byte, fresh bool) (*sql.DB, error) {
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?vfs=" + vfsPlain
	// The connector may open a connection again later: it keeps its own
	// copy of the key, which the caller is free to clear.
	var hexKey string
	if key != nil {
		dsn = "file:" + (&url.URL{Path: path}).EscapedPath() + "?vfs=" + vfsEncrypted
		hexKey = hex.EncodeToString(key[:])
	}
	return driver.Open(dsn, func(c *sqlite3.Conn) error {
		if key != nil {
			// The key is set by PRAGMA, not in the URI, where other parts
			// of the program could read it back.
			if err := c.Exec(`PRAGMA hexkey = '` + hexKey + `'`); err != nil {
				return err
			}
		}
		// One process owns a data directory (its lock): exclusive locking
		// keeps the WAL index in memory (no -shm file on disk) and takes
		// no file lock per transaction. temp_store=memory keeps sorts and
		// temporary tables off the disk. secure_delete: what a commit
		// deletes or overwrites is zeroed in the file, not left in free
		// space (deleted keys, §6.4).
		// No checkpoint when a connection closes: Close does it, and an
		// open that fails (a page fails its check) must change no file.
		if _, err := c.Config(sqlite3.DBCONFIG_NO_CKPT_ON_CLOSE, true); err != nil {
			return err
		}
		for _, p := range []string{"busy_timeout = 5000", "locking_mode = EXCLUSIVE", "temp_store = MEMORY", "secure_delete = 1", "foreign_keys = 1"} {
			if err := c.Exec("PRAGMA " + p); err != nil {
				return err
			}
		}
		if key != nil && fresh {
			// Reserve 8 bytes a page for its checksum, computed before
			// encryption and verified after decryption.
			if err := c.EnableChecksums("main"); err != nil {
				return err
			}
		}
		if key != nil {
			// An encrypted database without its checksums would read a
			// modified block as data: refuse it (a conversion's copy taken
			// before its checksums were on, put in the database's place).
			// Reading the schema reads the header first.
			if err := c.Exec(`PRAGMA schema_version`); err != nil {
				return err
			}
			r, err := c.FileControl("main", sqlite3.FCNTL_RESERVE_BYTES)
			if err != nil {
				return err
			}
			if r != 8 {
				return fmt.Errorf("%w: its pages carry no checksums", ErrTampered)
			}
		}
		for _, p := range []string{"journal_mode = WAL", "synchronous = FULL"} {
			if err := c.Exec("PRAGMA " + p); err != nil {
				return err
			}
		}
		return fts5.Register(c)
	})
}

// checkKey decrypts the first 4 KiB block of the encrypted database at path
// as the Adiantum VFS does (tweak: the block's offset, 0) and checks that
// it starts with SQLite's header: ErrWrongKey if not.
func checkKey(path string, key *[32]byte) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	block := make([]byte, 4096)
	if _, err := io.ReadFull(f, block); err != nil {
		return fmt.Errorf("%w (%w)", ErrTampered, err)
	}
	var tweak [8]byte
	if !bytes.HasPrefix(adiantum.New(key[:]).Decrypt(block, tweak[:]), plainHeader) {
		return ErrWrongKey
	}
	return nil
}

// classify marks a failed page check as ErrTampered.
func classify(err error) error {
	if errors.Is(err, ErrTampered) {
		return err
	}
	if errors.Is(err, sqlite3.IOERR_DATA) || errors.Is(err, sqlite3.CORRUPT) || errors.Is(err, sqlite3.NOTADB) {
		return fmt.Errorf("%w (%w)", ErrTampered, err)
	}
	return err
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
		return nil, fmt.Errorf("read account: %w", classify(err))
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
		return fmt.Errorf("write account: %w", classify(err))
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
		return nil, fmt.Errorf("read groups: %w", classify(err))
	}
	defer rows.Close()
	var out []store.Group
	for rows.Next() {
		var g store.Group
		var topic, id, secret, idSeed, owners []byte
		if err := rows.Scan(&topic, &g.Kind, &id, &secret, &idSeed, &owners, &g.Snapshot); err != nil {
			return nil, fmt.Errorf("read groups: %w", classify(err))
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
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	return out, nil
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
			return fmt.Errorf("commit: %w", classify(err))
		}
		s.relaxed = b.Recoverable
	}
	tx, err := s.db.Begin()
	if err != nil {
		return fmt.Errorf("commit: %w", classify(err))
	}
	if err := s.write(tx, b); err != nil {
		tx.Rollback()
		return fmt.Errorf("commit: %w", classify(err))
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", classify(err))
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
			return fmt.Errorf("write group: %w", classify(err))
		}
	}
	for _, t := range b.Truncations {
		if s.projector != nil {
			if err := s.projector.Truncate(tx, t); err != nil {
				return fmt.Errorf("project a truncation: %w", classify(err))
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
				return fmt.Errorf("write entry: %w", classify(err))
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
				return fmt.Errorf("write message: %w", classify(err))
			}
		}
		if s.projector != nil {
			if err := s.projector.Project(tx, b.Messages); err != nil {
				return fmt.Errorf("project messages: %w", classify(err))
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
		return feed.Head{}, false, fmt.Errorf("read entry: %w", classify(err))
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
		return nil, fmt.Errorf("read entries: %w", classify(err))
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return nil, fmt.Errorf("read entries: %w", classify(err))
		}
		out = append(out, raw)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	return out, nil
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
		return nil, fmt.Errorf("read messages: %w", classify(err))
	}
	defer rows.Close()
	var out []store.Message
	for rows.Next() {
		m := store.Message{Topic: topic}
		var dev, member, id []byte
		if err := rows.Scan(&dev, &m.Seq, &member, &m.Lamport, &id, &m.Own, &m.Body); err != nil {
			return nil, fmt.Errorf("read messages: %w", classify(err))
		}
		copy(m.Device[:], dev)
		copy(m.Member[:], member)
		copy(m.ID[:], id)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	return out, nil
}

// CountMessages implements store.Store.
func (s *Store) CountMessages(topic [32]byte) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM messages WHERE topic = ?`, topic[:]).Scan(&n); err != nil {
		return 0, fmt.Errorf("count messages: %w", classify(err))
	}
	return n, nil
}

// Check reads every page of the database and checks its structure
// (PRAGMA integrity_check): ErrTampered if a page fails its check.
func (s *Store) Check() error {
	return s.View(func(db *sql.DB) error {
		rows, err := db.Query(`PRAGMA integrity_check`)
		if err != nil {
			return fmt.Errorf("check: %w", classify(err))
		}
		defer rows.Close()
		var problems []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				return fmt.Errorf("check: %w", classify(err))
			}
			if line != "ok" {
				problems = append(problems, line)
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("check: %w", classify(err))
		}
		if len(problems) > 0 {
			return fmt.Errorf("check: %w: %s", ErrTampered, strings.Join(problems, "; "))
		}
		return nil
	})
}

// Close implements store.Store. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	// Fold the log into the database and empty it: at rest, after a clean
	// stop, the database file alone holds everything (connections do not
	// checkpoint on close, so that a failed open changes no file).
	var busy, logged, done int
	err := s.db.QueryRow(`PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logged, &done)
	return errors.Join(classify(err), s.db.Close())
}
