// Package store defines how a Berty node persists one account: its keys, its
// groups with their replica snapshots, the feeds' entries and the messages
// decrypted from them (docs/protocol.md §8, docs/architecture.md).
//
// Two implementations exist: store/sqlite, the real one (one SQLite file per
// account, WAL, durable commits), and store/mem, an in-memory fake for fast
// tests. Both pass the same conformance suite in store/storetest.
//
// # Contract
//
// Commit applies a Batch atomically and durably: when it returns nil, the
// whole batch survives a crash; when it returns an error, none of it was
// applied. This is what lets the node persist a replica's Ready before it
// publishes a single byte (§7.1). Opening a store reads the account and the
// group snapshots only — never the entries or messages — so start-up time
// grows with the number of groups, not the number of messages.
package store

import (
	"errors"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
)

// ErrNoAccount is returned by Account when the store holds no account yet.
var ErrNoAccount = errors.New("no account in this store")

// Account is the account's secrets and settings.
type Account struct {
	AccountSeed [32]byte
	DeviceSeed  [32]byte
	Name        string
}

// Group is what the store keeps of a group: enough to rebuild its
// descriptor and resume its replica.
type Group struct {
	Topic    [32]byte // primary key: the group's network name
	Kind     uint8
	ID       keys.Public
	Secret   [32]byte
	IDSeed   *[32]byte // only for a multi-member group's creator
	Owners   []keys.Public
	Snapshot []byte
}

// Entry is a stored log entry.
type Entry struct {
	Topic   [32]byte
	Device  keys.Public
	Seq     uint64
	ID      feed.ID
	Lamport uint64
	Raw     []byte
}

// Message is a stored plaintext: one this device sent or one it decrypted.
type Message struct {
	Topic   [32]byte
	Device  keys.Public
	Seq     uint64
	Member  keys.Public
	Lamport uint64
	ID      feed.ID
	Own     bool
	Body    []byte
}

// Truncation deletes a device's entries and messages after a seq.
type Truncation struct {
	Topic  [32]byte
	Device keys.Public
	After  uint64
}

// Batch is a set of writes applied together by Commit, in this order:
// groups, truncations, entries, messages.
type Batch struct {
	Groups      []Group
	Truncations []Truncation
	Entries     []Entry
	Messages    []Message
	// Recoverable marks a batch that holds only what peers can send again:
	// received entries and what was derived from them, nothing this device
	// wrote. Its commit may skip the fsync: it survives a process crash,
	// may be lost on a power failure — the store then reverts atomically to
	// an earlier state, whose snapshot still holds the message keys, and
	// sync brings the entries back — and becomes durable with the next
	// durable commit, which syncs everything before it. Batches with this
	// device's own entries are never recoverable (docs/protocol.md §8).
	Recoverable bool
	// Erase marks a batch that deletes secrets (a key-agreement key,
	// docs/protocol.md §6.4): once it is committed, no earlier copy of
	// what it overwrites may stay in the store's files (free pages, a
	// write-ahead log).
	Erase bool
}

// Empty reports whether the batch writes nothing.
func (b *Batch) Empty() bool {
	return len(b.Groups) == 0 && len(b.Truncations) == 0 && len(b.Entries) == 0 && len(b.Messages) == 0
}

// Store persists one account. Implementations are safe for concurrent use;
// the node still serialises Commits per account.
type Store interface {
	// Account returns the stored account, or ErrNoAccount.
	Account() (*Account, error)
	// SetAccount stores the account (durably) before anything else is written.
	SetAccount(*Account) error
	// Groups returns every group with its latest snapshot.
	Groups() ([]Group, error)
	// Commit applies b atomically and durably. Entries whose (topic, device,
	// seq) exists already are left as they are; so are messages.
	Commit(b *Batch) error
	// Entry returns the ID and Lamport clock of a stored entry.
	Entry(topic [32]byte, device keys.Public, seq uint64) (feed.Head, bool, error)
	// EntriesAfter returns up to limit raw entries of a device's feed with
	// seq > after, in seq order: what a sync peer asks for.
	EntriesAfter(topic [32]byte, device keys.Public, after uint64, limit int) ([][]byte, error)
	// Messages returns up to limit messages of a group in display order
	// (Lamport clock, then entry ID), starting after the given position
	// (the zero Cursor starts at the beginning).
	Messages(topic [32]byte, after Cursor, limit int) ([]Message, error)
	// CountMessages returns how many messages a group holds.
	CountMessages(topic [32]byte) (int, error)
	// Close releases the store. It is idempotent.
	Close() error
}

// Cursor is a position in a group's display order.
type Cursor struct {
	Lamport uint64
	ID      feed.ID
}

// Before reports whether c sorts before m, that is whether m comes after c.
func (c Cursor) Before(m *Message) bool {
	if m.Lamport != c.Lamport {
		return m.Lamport > c.Lamport
	}
	for i := range m.ID {
		if m.ID[i] != c.ID[i] {
			return m.ID[i] > c.ID[i]
		}
	}
	return false
}

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("store is closed")

// Lookup adapts a Store to feed.Lookup for one group.
type Lookup struct {
	Store Store
	Topic [32]byte
}

// Entry implements feed.Lookup.
func (l Lookup) Entry(device keys.Public, seq uint64) (feed.Head, bool, error) {
	return l.Store.Entry(l.Topic, device, seq)
}
