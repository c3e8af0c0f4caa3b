package infra

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/net/p2p"
)

// The regressions of an attacker review of the first mailbox (§10.5),
// which keyed a group by its topic: the topic and the replication key never
// change, so a removed member or a link holder could register a made-up
// network for the group, read its entries' metadata, fill its quota with
// junk authors, evict its real networks, or register its topic first with
// a wrong key. A space is now one network: only holders of its key reach
// it.

// served returns what a get under network serves.
func served(t *testing.T, m *mailbox, network [32]byte) [][]byte {
	t.Helper()
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	if err := m.get(w, network, p2p.EncodeVector(nil)); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	br := bufio.NewReader(&out)
	var got [][]byte
	for {
		f, err := p2p.ReadFrame(br, p2p.MaxFrame)
		if err != nil {
			t.Fatal(err)
		}
		if len(f) == 0 {
			return got
		}
		rs, err := p2p.DecodeBatch(f)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rs...)
	}
}

// TestMailboxRemovedMemberReachesNothing: mallory holds the topic and the
// replication key (the group secret: a removed member, an old link), not
// the current epoch's network key. She may open a space of her own under a
// network she makes up — it holds nothing of the group's — and junk she
// puts there stays there; the group's space refuses her.
func TestMailboxRemovedMemberReachesNothing(t *testing.T) {
	m := testMailbox(t, MailboxLimits{})
	g := newGroup(t)
	alice, mallory := peer.ID("alice"), peer.ID("mallory")
	real := group.NetworkID(g.net)
	if st, _, err := m.handle(alice, g.head(p2p.MailboxRegister, alice, m, g.net), regBody(g.rep, g.net)); st != p2p.MailboxOK {
		t.Fatalf("alice registers: %d %v", st, err)
	}
	e1 := g.entry(t, true)
	if st, _, err := m.handle(alice, g.head(p2p.MailboxPut, alice, m, g.net), p2p.EncodeBatch(raws(e1))); st != p2p.MailboxOK {
		t.Fatalf("alice puts: %d %v", st, err)
	}
	var fake [32]byte
	rand.Read(fake[:])
	if st, _, err := m.handle(mallory, g.head(p2p.MailboxRegister, mallory, m, fake), regBody(g.rep, fake)); st != p2p.MailboxOK {
		t.Fatalf("mallory opens a space of her own: %d %v", st, err)
	}
	if got := served(t, m, group.NetworkID(fake)); len(got) != 0 {
		t.Errorf("mallory's own space serves %d entries of the group", len(got))
	}
	junk := junkEntry(t, g.topic, g.rep, 10)
	if st, _, err := m.handle(mallory, g.head(p2p.MailboxPut, mallory, m, fake), p2p.EncodeBatch(raws(junk))); st != p2p.MailboxOK {
		t.Fatalf("mallory puts in her space: %d %v", st, err)
	}
	if got := served(t, m, real); len(got) != 1 || !bytes.Equal(got[0], e1.Encoded) {
		t.Errorf("the group's space serves %d entries, want alice's one", len(got))
	}
	// The group's space, under its network, with mallory's made-up key.
	forged := g.head(p2p.MailboxGet, mallory, m, fake)
	forged.Network = real
	if st, _, _ := m.handle(mallory, forged, p2p.EncodeVector(nil)); st != p2p.MailboxUnknown {
		t.Errorf("a get of the group's space without its key: status %d", st)
	}
	forged.Op = p2p.MailboxPut
	if st, _, _ := m.handle(mallory, forged, p2p.EncodeBatch(raws(junk))); st != p2p.MailboxUnknown {
		t.Errorf("a put in the group's space without its key: status %d", st)
	}
	// Registering the group's network again, with another replication key
	// or for another topic, is refused: no one swaps what a space holds.
	var other [32]byte
	rand.Read(other[:])
	if st, _, _ := m.handle(alice, g.head(p2p.MailboxRegister, alice, m, g.net), regBody(other, g.net)); st != p2p.MailboxUnknown {
		t.Errorf("the group's network registered again with another replication key: status %d", st)
	}
}

// TestMailboxSquatAndEvictionChangeNothing: many made-up networks
// registered for the group's topic (with its replication key or a wrong
// one) before and after alice leave her registration and her space as
// they were.
func TestMailboxSquatAndEvictionChangeNothing(t *testing.T) {
	m := testMailbox(t, MailboxLimits{})
	g := newGroup(t)
	alice, mallory := peer.ID("alice"), peer.ID("mallory")
	var wrong [32]byte
	rand.Read(wrong[:])
	squat := func() {
		for range 20 {
			var fake [32]byte
			rand.Read(fake[:])
			m.handle(mallory, g.head(p2p.MailboxRegister, mallory, m, fake), regBody(wrong, fake))
		}
	}
	squat()
	if st, _, err := m.handle(alice, g.head(p2p.MailboxRegister, alice, m, g.net), regBody(g.rep, g.net)); st != p2p.MailboxOK {
		t.Fatalf("alice registers after the squatter: %d %v", st, err)
	}
	squat()
	if st, _, err := m.handle(alice, g.head(p2p.MailboxPut, alice, m, g.net), p2p.EncodeBatch(raws(g.entry(t, true)))); st != p2p.MailboxOK {
		t.Errorf("alice puts after 40 made-up networks: %d %v", st, err)
	}
}

// TestMailboxQuotas: one device's share of a space, the devices of a space,
// the spaces of the whole mailbox and its bytes are bounded: peer IDs cost
// nothing, so per-peer bounds alone would not bound the disk.
func TestMailboxQuotas(t *testing.T) {
	t.Run("author", func(t *testing.T) {
		m := testMailbox(t, MailboxLimits{AuthorBytes: 3000})
		g := newGroup(t)
		alice := peer.ID("alice")
		m.handle(alice, g.head(p2p.MailboxRegister, alice, m, g.net), regBody(g.rep, g.net))
		g.payload = string(make([]byte, 1000))
		var es []*feed.Entry
		for range 4 {
			es = append(es, g.entry(t, true))
		}
		if st, _, _ := m.handle(alice, g.head(p2p.MailboxPut, alice, m, g.net), p2p.EncodeBatch(raws(es...))); st != p2p.MailboxFull {
			t.Errorf("4 kB from one device with 3 kB each: status %d", st)
		}
		// Another device of the space still has its share.
		if st, _, err := m.handle(alice, g.head(p2p.MailboxPut, alice, m, g.net), p2p.EncodeBatch(raws(junkEntry(t, g.topic, g.rep, 100)))); st != p2p.MailboxOK {
			t.Errorf("another device's entry: %d %v", st, err)
		}
	})
	t.Run("authors", func(t *testing.T) {
		m := testMailbox(t, MailboxLimits{Authors: 3})
		g := newGroup(t)
		alice := peer.ID("alice")
		m.handle(alice, g.head(p2p.MailboxRegister, alice, m, g.net), regBody(g.rep, g.net))
		for i := range 4 {
			st, _, _ := m.handle(alice, g.head(p2p.MailboxPut, alice, m, g.net), p2p.EncodeBatch(raws(junkEntry(t, g.topic, g.rep, 10))))
			if want := byte(p2p.MailboxOK); i == 3 && st != p2p.MailboxFull || i < 3 && st != want {
				t.Errorf("device %d of a space with room for 3: status %d", i+1, st)
			}
		}
	})
	t.Run("spaces", func(t *testing.T) {
		m := testMailbox(t, MailboxLimits{Spaces: 5})
		for i := range 6 {
			g, p := newGroup(t), peer.ID(fmt.Sprintf("sybil-%d", i))
			st, _, _ := m.handle(p, g.head(p2p.MailboxRegister, p, m, g.net), regBody(g.rep, g.net))
			if i == 5 && st != p2p.MailboxFull || i < 5 && st != p2p.MailboxOK {
				t.Errorf("space %d of 5, each from a new peer ID: status %d", i+1, st)
			}
		}
	})
	t.Run("total", func(t *testing.T) {
		m := testMailbox(t, MailboxLimits{Total: 5000})
		for i := range 3 {
			g, p := newGroup(t), peer.ID(fmt.Sprintf("sybil-%d", i))
			m.handle(p, g.head(p2p.MailboxRegister, p, m, g.net), regBody(g.rep, g.net))
			g.payload = string(make([]byte, 2000))
			st, _, _ := m.handle(p, g.head(p2p.MailboxPut, p, m, g.net), p2p.EncodeBatch(raws(g.entry(t, true))))
			if i == 2 && st != p2p.MailboxFull || i < 2 && st != p2p.MailboxOK {
				t.Errorf("2 kB put %d in a mailbox of 5 kB: status %d", i+1, st)
			}
		}
	})
}
