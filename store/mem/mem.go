// Package mem is an in-memory store.Store for fast tests. It keeps the same
// contract as store/sqlite (the conformance suite in store/storetest checks
// both) except durability: everything is gone when the process ends.
package mem

import (
	"bytes"
	"slices"
	"sync"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/store"
)

type feedKey struct {
	topic  [32]byte
	device keys.Public
}

// Store is an in-memory store. The zero value is not usable; call New.
type Store struct {
	mu       sync.Mutex // guards everything below
	closed   bool
	account  *store.Account
	groups   map[[32]byte]store.Group
	order    [][32]byte // topics in insertion order
	entries  map[feedKey]map[uint64]store.Entry
	messages map[feedKey][]store.Message // by device, seq order
}

// New returns an empty store.
func New() *Store {
	return &Store{
		groups:   map[[32]byte]store.Group{},
		entries:  map[feedKey]map[uint64]store.Entry{},
		messages: map[feedKey][]store.Message{},
	}
}

var _ store.Store = (*Store)(nil)

// Account implements store.Store.
func (s *Store) Account() (*store.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	if s.account == nil {
		return nil, store.ErrNoAccount
	}
	a := *s.account
	return &a, nil
}

// SetAccount implements store.Store.
func (s *Store) SetAccount(a *store.Account) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	c := *a
	s.account = &c
	return nil
}

// Groups implements store.Store.
func (s *Store) Groups() ([]store.Group, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	out := make([]store.Group, 0, len(s.order))
	for _, t := range s.order {
		out = append(out, cloneGroup(s.groups[t]))
	}
	return out, nil
}

func cloneGroup(g store.Group) store.Group {
	g.Owners = slices.Clone(g.Owners)
	g.Snapshot = bytes.Clone(g.Snapshot)
	if g.IDSeed != nil {
		seed := *g.IDSeed
		g.IDSeed = &seed
	}
	return g
}

// Commit implements store.Store. It validates the whole batch before
// applying any of it, so a failing batch changes nothing.
func (s *Store) Commit(b *store.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	if err := store.Validate(b); err != nil {
		return err
	}
	for _, g := range b.Groups {
		old, ok := s.groups[g.Topic]
		if !ok {
			s.order = append(s.order, g.Topic)
		} else if g.IDSeed == nil {
			g.IDSeed = old.IDSeed // as in SQLite: a write never erases the group key
		}
		s.groups[g.Topic] = cloneGroup(g)
	}
	for _, t := range b.Truncations {
		k := feedKey{t.Topic, t.Device}
		for seq := range s.entries[k] {
			if seq > t.After {
				delete(s.entries[k], seq)
			}
		}
		ms := s.messages[k]
		i, _ := slices.BinarySearchFunc(ms, t.After+1, func(m store.Message, seq uint64) int { return cmpU(m.Seq, seq) })
		s.messages[k] = ms[:i]
	}
	for _, e := range b.Entries {
		k := feedKey{e.Topic, e.Device}
		es := s.entries[k]
		if es == nil {
			es = map[uint64]store.Entry{}
			s.entries[k] = es
		}
		if _, ok := es[e.Seq]; !ok { // already stored: keep the first
			e.Raw = bytes.Clone(e.Raw)
			es[e.Seq] = e
		}
	}
	for _, m := range b.Messages {
		k := feedKey{m.Topic, m.Device}
		ms := s.messages[k]
		i, found := slices.BinarySearchFunc(ms, m.Seq, func(x store.Message, seq uint64) int { return cmpU(x.Seq, seq) })
		if found {
			continue
		}
		m.Body = bytes.Clone(m.Body)
		s.messages[k] = slices.Insert(ms, i, m)
	}
	return nil
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Entry implements store.Store.
func (s *Store) Entry(topic [32]byte, device keys.Public, seq uint64) (feed.Head, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return feed.Head{}, false, store.ErrClosed
	}
	e, ok := s.entries[feedKey{topic, device}][seq]
	if !ok {
		return feed.Head{}, false, nil
	}
	return feed.Head{Seq: e.Seq, ID: e.ID, Lamport: e.Lamport}, true, nil
}

// EntriesAfter implements store.Store.
func (s *Store) EntriesAfter(topic [32]byte, device keys.Public, after uint64, limit int) ([][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	es := s.entries[feedKey{topic, device}]
	var out [][]byte
	for seq := after + 1; len(out) < limit; seq++ {
		e, ok := es[seq]
		if !ok {
			break
		}
		out = append(out, bytes.Clone(e.Raw))
	}
	return out, nil
}

// Messages implements store.Store.
func (s *Store) Messages(topic [32]byte, after store.Cursor, limit int) ([]store.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	var all []store.Message
	for k, ms := range s.messages {
		if k.topic != topic {
			continue
		}
		for _, m := range ms {
			if after.Before(&m) {
				all = append(all, m)
			}
		}
	}
	slices.SortFunc(all, func(a, b store.Message) int {
		if c := cmpU(a.Lamport, b.Lamport); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	if len(all) > limit {
		all = all[:limit]
	}
	for i := range all {
		all[i].Body = bytes.Clone(all[i].Body)
	}
	return all, nil
}

// CountMessages implements store.Store.
func (s *Store) CountMessages(topic [32]byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	n := 0
	for k, ms := range s.messages {
		if k.topic == topic {
			n += len(ms)
		}
	}
	return n, nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}
