package infra

import (
	"bufio"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/net/p2p"
)

// TestMailboxSlowReaderStallsNoOne: the mailbox's database has one
// connection (SetMaxOpenConns(1)), and get streams its rows to the
// network while it holds that connection. A requester that does not read
// (any stranger, on a group of its own with more than 256 entries) holds
// the whole mailbox for MailboxTimeout (1 min): every other group's
// register, put, vector and get waits. Opening a new such get each minute
// keeps the mailbox down.
func TestMailboxSlowReaderStallsNoOne(t *testing.T) {
	m := testMailbox(t, MailboxLimits{})
	// Mallory's own group, with 600 entries of 1 kB.
	mg := newGroup(t)
	mallory := peer.ID("mallory")
	if st, _, err := m.handle(mallory, mg.head(p2p.MailboxRegister, mallory, m, mg.net), regBody(mg.rep, mg.net)); st != p2p.MailboxOK {
		t.Fatalf("register: %d %v", st, err)
	}
	mg.payload = strings.Repeat("x", 1000)
	for range 3 {
		var es []*feed.Entry
		for range 200 {
			es = append(es, mg.entry(t, true))
		}
		if st, _, err := m.handle(mallory, mg.head(p2p.MailboxPut, mallory, m, mg.net), p2p.EncodeBatch(raws(es...))); st != p2p.MailboxOK {
			t.Fatalf("put: %d %v", st, err)
		}
	}
	// Her get, to a peer that never reads (as serve does: a 64 KiB bufio
	// writer over the stream).
	pr, pw := io.Pipe()
	getDone := make(chan error, 1)
	go func() {
		getDone <- m.get(bufio.NewWriterSize(pw, 64<<10), group.NetworkID(mg.net), p2p.EncodeVector(nil))
	}()
	defer func() { pr.Close(); <-getDone }()
	// Wait until the get has written its first bytes (it then holds its rows).
	first := make([]byte, 1)
	if _, err := io.ReadFull(pr, first); err != nil {
		t.Fatal(err)
	}

	// Alice, another group entirely, registers.
	g := newGroup(t)
	alice := peer.ID("alice")
	done := make(chan byte, 1)
	go func() {
		st, _, _ := m.handle(alice, g.head(p2p.MailboxRegister, alice, m, g.net), regBody(g.rep, g.net))
		done <- st
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Errorf("another group's registration blocked for 3 s by a get whose requester does not read (the mailbox has one DB connection, held while streaming)")
	}
}
