// Package storetest is the conformance suite every store.Store passes. Run it
// from an implementation's tests with a constructor and, for durable stores,
// a reopen function.
package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/store"
)

// Factory opens a store for a test. Reopen, if not nil, closes s and opens
// the same data again (a restart); stores without durability pass nil.
type Factory struct {
	Open   func(t *testing.T) store.Store
	Reopen func(t *testing.T, s store.Store) store.Store
}

// Run runs the suite.
func Run(t *testing.T, f Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, Factory)
	}{
		{"Account", testAccount},
		{"GroupsAndSnapshots", testGroups},
		{"EntriesAndLookup", testEntries},
		{"DuplicatesKeepFirst", testDuplicates},
		{"Truncate", testTruncate},
		{"LargeBatch", testLargeBatch},
		{"MessagesOrderAndCursor", testMessages},
		{"BadBatchChangesNothing", testBadBatch},
		{"Reopen", testReopen},
		{"RecoverableBatch", testRecoverable},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, f) })
	}
}

var (
	topicA = [32]byte{1}
	topicB = [32]byte{2}
	devX   = keys.Public{10}
	devY   = keys.Public{11}
)

func entry(topic [32]byte, dev keys.Public, seq uint64) store.Entry {
	raw := []byte(fmt.Sprintf("entry %x/%x/%d", topic[0], dev[0], seq))
	return store.Entry{Topic: topic, Device: dev, Seq: seq, ID: feed.ID{byte(seq), dev[0], topic[0]}, Lamport: seq * 2, Raw: raw}
}

func message(topic [32]byte, dev keys.Public, seq, lamport uint64, id byte) store.Message {
	return store.Message{Topic: topic, Device: dev, Seq: seq, Member: keys.Public{dev[0] + 100}, Lamport: lamport,
		ID: feed.ID{id}, Body: []byte(fmt.Sprintf("body %d", seq))}
}

func commit(t *testing.T, s store.Store, b *store.Batch) {
	t.Helper()
	if err := s.Commit(b); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

func testAccount(t *testing.T, f Factory) {
	s := f.Open(t)
	if _, err := s.Account(); !errors.Is(err, store.ErrNoAccount) {
		t.Fatalf("Account on empty store: %v, want ErrNoAccount", err)
	}
	a := &store.Account{AccountSeed: [32]byte{1, 2}, DeviceSeed: [32]byte{3, 4}, Name: "alice"}
	if err := s.SetAccount(a); err != nil {
		t.Fatal(err)
	}
	got, err := s.Account()
	if err != nil || *got != *a {
		t.Fatalf("Account = %+v, %v; want %+v", got, err, a)
	}
	a.Name = "alice 2"
	if err := s.SetAccount(a); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Account(); got.Name != "alice 2" {
		t.Fatalf("name after update = %q", got.Name)
	}
}

func testGroups(t *testing.T, f Factory) {
	s := f.Open(t)
	seed := [32]byte{9}
	g1 := store.Group{Topic: topicA, Kind: 3, ID: keys.Public{5}, Secret: [32]byte{6}, IDSeed: &seed,
		Owners: nil, Snapshot: []byte("snap 1")}
	g2 := store.Group{Topic: topicB, Kind: 2, ID: keys.Public{7}, Secret: [32]byte{8},
		Owners: []keys.Public{{1}, {2}}, Snapshot: []byte("snap b")}
	commit(t, s, &store.Batch{Groups: []store.Group{g1, g2}})
	g1.Snapshot = []byte("snap 2")
	g1.IDSeed = nil // a later write without the seed must not erase it
	commit(t, s, &store.Batch{Groups: []store.Group{g1}})
	gs, err := s.Groups()
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 2 {
		t.Fatalf("%d groups, want 2", len(gs))
	}
	if gs[0].Topic != topicA || string(gs[0].Snapshot) != "snap 2" || gs[0].IDSeed == nil || *gs[0].IDSeed != seed {
		t.Fatalf("group A = %+v", gs[0])
	}
	if gs[1].Kind != 2 || len(gs[1].Owners) != 2 || gs[1].Owners[1] != (keys.Public{2}) || gs[1].IDSeed != nil {
		t.Fatalf("group B = %+v", gs[1])
	}
}

func testEntries(t *testing.T, f Factory) {
	s := f.Open(t)
	b := &store.Batch{}
	for seq := uint64(1); seq <= 5; seq++ {
		b.Entries = append(b.Entries, entry(topicA, devX, seq), entry(topicB, devX, seq))
	}
	commit(t, s, b)
	h, ok, err := s.Entry(topicA, devX, 3)
	want := entry(topicA, devX, 3)
	if err != nil || !ok || h.ID != want.ID || h.Lamport != 6 || h.Seq != 3 {
		t.Fatalf("Entry = %+v %v %v", h, ok, err)
	}
	if _, ok, _ := s.Entry(topicA, devY, 1); ok {
		t.Fatal("Entry found for an unknown device")
	}
	raws, err := s.EntriesAfter(topicA, devX, 2, 2)
	if err != nil || len(raws) != 2 || !bytes.Equal(raws[0], entry(topicA, devX, 3).Raw) || !bytes.Equal(raws[1], entry(topicA, devX, 4).Raw) {
		t.Fatalf("EntriesAfter = %q, %v", raws, err)
	}
	if raws, _ := s.EntriesAfter(topicA, devX, 5, 10); len(raws) != 0 {
		t.Fatalf("EntriesAfter head = %d entries", len(raws))
	}
}

func testDuplicates(t *testing.T, f Factory) {
	s := f.Open(t)
	commit(t, s, &store.Batch{Entries: []store.Entry{entry(topicA, devX, 1)}, Messages: []store.Message{message(topicA, devX, 1, 1, 1)}})
	e := entry(topicA, devX, 1)
	e.Raw = []byte("other")
	m := message(topicA, devX, 1, 1, 1)
	m.Body = []byte("other")
	commit(t, s, &store.Batch{Entries: []store.Entry{e}, Messages: []store.Message{m}})
	raws, _ := s.EntriesAfter(topicA, devX, 0, 10)
	if len(raws) != 1 || !bytes.Equal(raws[0], entry(topicA, devX, 1).Raw) {
		t.Fatalf("after duplicate write: %q", raws)
	}
	ms, _ := s.Messages(topicA, store.Cursor{}, 10)
	if len(ms) != 1 || string(ms[0].Body) != "body 1" {
		t.Fatalf("after duplicate message: %+v", ms)
	}
}

func testTruncate(t *testing.T, f Factory) {
	s := f.Open(t)
	b := &store.Batch{}
	for seq := uint64(1); seq <= 6; seq++ {
		b.Entries = append(b.Entries, entry(topicA, devX, seq), entry(topicA, devY, seq))
		b.Messages = append(b.Messages, message(topicA, devX, seq, seq, byte(seq)), message(topicA, devY, seq, seq, byte(100+seq)))
	}
	commit(t, s, b)
	commit(t, s, &store.Batch{Truncations: []store.Truncation{{Topic: topicA, Device: devX, After: 2}}})
	raws, _ := s.EntriesAfter(topicA, devX, 0, 10)
	if len(raws) != 2 {
		t.Fatalf("%d entries of X after truncating after 2", len(raws))
	}
	if raws, _ := s.EntriesAfter(topicA, devY, 0, 10); len(raws) != 6 {
		t.Fatalf("truncation touched another device: %d entries", len(raws))
	}
	n, _ := s.CountMessages(topicA)
	if n != 8 {
		t.Fatalf("%d messages after truncation, want 8", n)
	}
	if _, ok, _ := s.Entry(topicA, devX, 3); ok {
		t.Fatal("truncated entry still found")
	}
}

func testMessages(t *testing.T, f Factory) {
	s := f.Open(t)
	b := &store.Batch{Messages: []store.Message{
		message(topicA, devY, 1, 5, 9),
		message(topicA, devX, 1, 5, 3),
		message(topicA, devX, 2, 7, 1),
		message(topicA, devY, 2, 2, 8),
		message(topicB, devX, 1, 1, 1),
	}}
	commit(t, s, b)
	ms, err := s.Messages(topicA, store.Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, m := range ms {
		order = append(order, fmt.Sprintf("%d/%d", m.Lamport, m.ID[0]))
	}
	if got, want := fmt.Sprint(order), "[2/8 5/3 5/9 7/1]"; got != want {
		t.Fatalf("display order %s, want %s", got, want)
	}
	if ms[1].Member != (keys.Public{devX[0] + 100}) || string(ms[1].Body) != "body 1" || ms[1].Device != devX {
		t.Fatalf("message fields: %+v", ms[1])
	}
	page, _ := s.Messages(topicA, store.Cursor{Lamport: ms[1].Lamport, ID: ms[1].ID}, 1)
	if len(page) != 1 || page[0].ID != ms[2].ID {
		t.Fatalf("page after cursor: %+v", page)
	}
	if n, _ := s.CountMessages(topicB); n != 1 {
		t.Fatalf("CountMessages(B) = %d", n)
	}
}

func testBadBatch(t *testing.T, f Factory) {
	s := f.Open(t)
	commit(t, s, &store.Batch{Entries: []store.Entry{entry(topicA, devX, 1)}})
	bad := &store.Batch{
		Groups:   []store.Group{{Topic: topicB, Kind: 2, Snapshot: []byte("x")}},
		Entries:  []store.Entry{entry(topicA, devX, 2), entry(topicA, devX, 4)}, // out of order
		Messages: []store.Message{message(topicA, devX, 2, 2, 2)},
	}
	if err := s.Commit(bad); err == nil {
		t.Fatal("Commit of a batch with a gap succeeded")
	}
	if gs, _ := s.Groups(); len(gs) != 0 {
		t.Fatal("bad batch wrote a group")
	}
	if raws, _ := s.EntriesAfter(topicA, devX, 0, 10); len(raws) != 1 {
		t.Fatalf("bad batch wrote entries: %d", len(raws))
	}
	if n, _ := s.CountMessages(topicA); n != 0 {
		t.Fatal("bad batch wrote a message")
	}
}

func testReopen(t *testing.T, f Factory) {
	if f.Reopen == nil {
		t.Skip("store is not durable: nothing to reopen")
	}
	s := f.Open(t)
	if err := s.SetAccount(&store.Account{Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	commit(t, s, &store.Batch{
		Groups:   []store.Group{{Topic: topicA, Kind: 1, Snapshot: []byte("s")}},
		Entries:  []store.Entry{entry(topicA, devX, 1)},
		Messages: []store.Message{message(topicA, devX, 1, 1, 1)},
	})
	s = f.Reopen(t, s)
	if a, err := s.Account(); err != nil || a.Name != "bob" {
		t.Fatalf("account after reopen: %+v %v", a, err)
	}
	if gs, _ := s.Groups(); len(gs) != 1 || string(gs[0].Snapshot) != "s" {
		t.Fatalf("groups after reopen: %+v", gs)
	}
	if _, ok, _ := s.Entry(topicA, devX, 1); !ok {
		t.Fatal("entry lost on reopen")
	}
	if n, _ := s.CountMessages(topicA); n != 1 {
		t.Fatal("message lost on reopen")
	}
}

func testClosed(t *testing.T, f Factory) {
	s := f.Open(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Commit(&store.Batch{}); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Commit after Close: %v", err)
	}
	if _, err := s.Groups(); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Groups after Close: %v", err)
	}
}

func testLargeBatch(t *testing.T, f Factory) {
	s := f.Open(t)
	b := &store.Batch{}
	for seq := uint64(1); seq <= 150; seq++ {
		b.Entries = append(b.Entries, entry(topicA, devX, seq))
		b.Messages = append(b.Messages, message(topicA, devX, seq, seq, byte(seq)))
	}
	commit(t, s, b)
	raws, err := s.EntriesAfter(topicA, devX, 0, 1000)
	if err != nil || len(raws) != 150 || !bytes.Equal(raws[149], entry(topicA, devX, 150).Raw) {
		t.Fatalf("after a 150-entry batch: %d entries, %v", len(raws), err)
	}
	if n, _ := s.CountMessages(topicA); n != 150 {
		t.Fatalf("after a 150-message batch: %d messages", n)
	}
}

func testRecoverable(t *testing.T, f Factory) {
	s := f.Open(t)
	commit(t, s, &store.Batch{Recoverable: true, Entries: []store.Entry{entry(topicA, devX, 1)},
		Messages: []store.Message{message(topicA, devX, 1, 1, 1)}})
	commit(t, s, &store.Batch{Entries: []store.Entry{entry(topicA, devY, 1)}}) // durable again after
	commit(t, s, &store.Batch{Recoverable: true, Entries: []store.Entry{entry(topicA, devX, 2)}})
	check := func(when string) {
		t.Helper()
		for _, k := range []struct {
			d   keys.Public
			seq uint64
		}{{devX, 1}, {devY, 1}, {devX, 2}} {
			if _, ok, err := s.Entry(topicA, k.d, k.seq); !ok || err != nil {
				t.Fatalf("%s: entry %x/%d missing (%v)", when, k.d[0], k.seq, err)
			}
		}
		if n, _ := s.CountMessages(topicA); n != 1 {
			t.Fatalf("%s: %d messages, want 1", when, n)
		}
	}
	check("after commit")
	if f.Reopen != nil {
		s = f.Reopen(t, s) // a process restart keeps recoverable commits too
		check("after reopen")
	}
}
