package infra

import (
	"bytes"
	"crypto/rand"
	"log/slog"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/net/p2p"
)

type fakeHost peer.ID

func (f fakeHost) ID() peer.ID { return peer.ID(f) }

// mbGroup is a group as a mailbox sees it: a topic, a replication key and
// a network key, and a device that writes in it.
type mbGroup struct {
	topic, rep, net [32]byte
	dev             *keys.Pair
	prev            feed.ID
	seq             uint64
	payload         string // of the next entries ("sealed" if empty)
}

func newGroup(t *testing.T) *mbGroup {
	g := &mbGroup{}
	rand.Read(g.topic[:])
	rand.Read(g.rep[:])
	rand.Read(g.net[:])
	var err error
	if g.dev, err = keys.Generate(rand.Reader); err != nil {
		t.Fatal(err)
	}
	return g
}

// entry is the device's next entry; signed or not.
func (g *mbGroup) entry(t *testing.T, signed bool) *feed.Entry {
	g.seq++
	kind := feed.KindMessage
	if g.seq == 1 {
		kind = feed.KindMetadata // a feed starts with the device's announce
	}
	u := &feed.Unsigned{Topic: g.topic, Seq: g.seq, Prev: g.prev, Lamport: g.seq, Kind: kind, Payload: []byte("sealed" + g.payload)}
	var e *feed.Entry
	var err error
	if signed {
		e, err = feed.Sign(u, &g.rep, g.dev)
	} else {
		e, err = feed.Build(u, &g.rep, g.dev.Public())
	}
	if err != nil {
		t.Fatal(err)
	}
	g.prev = e.ID
	return e
}

func (g *mbGroup) head(op byte, from peer.ID, m *mailbox, key [32]byte) p2p.MailboxHead {
	return p2p.MailboxHead{Op: op, Topic: g.topic, Network: group.NetworkID(key), Proof: p2p.MailboxProof(key, from, m.h.ID())}
}

func raws(es ...*feed.Entry) [][]byte {
	var out [][]byte
	for _, e := range es {
		out = append(out, e.Encoded)
	}
	return out
}

// TestMailboxRefuses: what a mailbox takes is what a member would: a
// stranger (no network key), a forged entry (bad MAC, bad signature), an
// unsigned entry nothing authenticates, another entry at a place already
// held and a second replication key for a registered group are refused,
// and nothing of them is stored; a member's entries are.
func TestMailboxRefuses(t *testing.T) {
	m, err := openMailbox(t.TempDir(), fakeHost("mailbox"), MailboxLimits{}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	g := newGroup(t)
	alice, mallory := peer.ID("alice"), peer.ID("mallory")
	reg := append(append([]byte{}, g.rep[:]...), g.net[:]...)
	put := func(from peer.ID, key [32]byte, es ...*feed.Entry) byte {
		st, _, _ := m.handle(from, g.head(p2p.MailboxPut, from, m, key), p2p.EncodeBatch(raws(es...)))
		return st
	}
	var stranger [32]byte
	rand.Read(stranger[:])

	// Registration: the network key must be the one named, and proven.
	if st, _, _ := m.handle(alice, g.head(p2p.MailboxRegister, alice, m, stranger), reg); st != p2p.MailboxUnknown {
		t.Errorf("a registration naming another network than its key: status %d", st)
	}
	bad := g.head(p2p.MailboxRegister, alice, m, g.net)
	bad.Proof[0] ^= 1
	if st, _, _ := m.handle(alice, bad, reg); st != p2p.MailboxUnknown {
		t.Errorf("a registration with a bad proof: status %d", st)
	}
	if st, _, err := m.handle(alice, g.head(p2p.MailboxRegister, alice, m, g.net), reg); st != p2p.MailboxOK {
		t.Fatalf("alice's registration: status %d, %v", st, err)
	}
	var otherRep [32]byte
	rand.Read(otherRep[:])
	swap := append(append([]byte{}, otherRep[:]...), g.net[:]...)
	if st, _, _ := m.handle(mallory, g.head(p2p.MailboxRegister, mallory, m, g.net), swap); st != p2p.MailboxUnknown {
		t.Errorf("registering the group again with another replication key: status %d", st)
	}

	// A stranger cannot put, nor read.
	e1 := g.entry(t, true)
	if st := put(mallory, stranger, e1); st != p2p.MailboxUnknown {
		t.Errorf("a put without the network key: status %d", st)
	}
	if st, _, _ := m.handle(mallory, g.head(p2p.MailboxGet, mallory, m, stranger), p2p.EncodeVector(nil)); st != p2p.MailboxUnknown {
		t.Errorf("a get without the network key: status %d", st)
	}

	// Forged entries.
	forgedMAC := g.entry(t, true)
	b := bytes.Clone(forgedMAC.Encoded)
	b[len(b)-65-1] ^= 1 // in the MAC
	if st, _, _ := m.handle(alice, g.head(p2p.MailboxPut, alice, m, g.net), p2p.EncodeBatch([][]byte{b})); st != p2p.MailboxBad {
		t.Errorf("an entry with a bad MAC: status %d", st)
	}
	g.seq, g.prev = 1, e1.ID
	forgedSig := g.entry(t, true)
	b = bytes.Clone(forgedSig.Encoded)
	b[len(b)-1] ^= 1 // in the signature
	if st, _, _ := m.handle(alice, g.head(p2p.MailboxPut, alice, m, g.net), p2p.EncodeBatch([][]byte{b})); st != p2p.MailboxBad {
		t.Errorf("an entry with a bad signature: status %d", st)
	}
	if st := put(alice, g.net, e1); st != p2p.MailboxOK {
		t.Fatalf("a member's entry: status %d", st)
	}
	g.seq, g.prev = 1, e1.ID
	e2, e3 := g.entry(t, false), g.entry(t, true)
	lone := g.entry(t, false) // unsigned, and nothing signed after it
	if st := put(alice, g.net, e2, e3, lone); st != p2p.MailboxOK {
		t.Fatalf("a batch: status %d", st)
	}
	// Another entry at seq 2 (equivocation, or a replay with changes).
	g.seq, g.prev, g.payload = 1, e1.ID, " otherwise"
	g2 := g.entry(t, true)
	if st := put(alice, g.net, g2); st != p2p.MailboxBad {
		t.Errorf("another entry at a held place: status %d", st)
	}

	// What is stored: e1, e2 (authenticated by e3), e3 — not the lone
	// unsigned entry, nothing forged.
	heads, err := m.heads(group.NetworkID(g.net))
	if err != nil {
		t.Fatal(err)
	}
	if len(heads) != 1 || heads[g.dev.Public()] != 3 {
		t.Errorf("the mailbox's heads: %v, want the device at 3", heads)
	}
	got := served(t, m, group.NetworkID(g.net))
	want := raws(e1, e2, e3)
	if len(got) != len(want) {
		t.Fatalf("the mailbox serves %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("entry %d served differs", i)
		}
	}
}
