package p2p_test

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver" // the "sqlite3" driver

	"github.com/berty-go/berty/infra"
	"github.com/berty-go/berty/net/p2p"
)

// waitEvent blocks until d's host reports an event of kind k.
func (d *device) waitEvent(k p2p.EventKind) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		select {
		case e := <-d.refusals:
			if e.Kind == k {
				return
			}
		case <-ctx.Done():
			d.t.Fatalf("%s: no event %d in 20 s", d.name, k)
		}
	}
}

// TestOfflineDeliveryThroughMailbox: alice writes while bob is offline,
// then goes offline herself; bob comes back and gets every message from
// their mailbox (a `berty serve` node), alice nowhere to be reached. The
// mailbox's database holds none of the texts (it holds no key that reads
// them: only the replication and network keys the devices registered).
func TestOfflineDeliveryThroughMailbox(t *testing.T) {
	dir := t.TempDir()
	srv, err := infra.Start(infra.Config{Dir: dir, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoDHT: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	loopback := []string{"/ip4/127.0.0.1/tcp/0"}
	alice := newDeviceWith(t, "alice", loopback, srv.Addrs(), srv.Addrs())
	bob := newDeviceWith(t, "bob", loopback, srv.Addrs(), srv.Addrs())
	defer func() { alice.stop(); bob.stop() }()
	if err := alice.h.Connect(context.Background(), bob.h.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	topic := befriend(t, alice, bob)
	sendAll(t, alice, topic, []string{"while both online"}, 1)
	bob.waitFor("while both online")

	bob.stop()
	msgs := bodies("while bob was away", 50)
	for _, m := range msgs { // one per call, as a person writes
		sendAll(t, alice, topic, []string{m}, 1)
	}
	// And in batches, whose entries but the last are unsigned (§4.5):
	// the mailbox keeps them with the signed one that closes them.
	batched := bodies("in batches", 300)
	sendAll(t, alice, topic, batched, 100)
	msgs = append(msgs, batched...)
	// Alice leaves once the mailbox holds them all.
	for srv.MailboxStats().Stored < int64(len(msgs)) {
		alice.waitEvent(p2p.MailboxStored)
	}
	alice.stop()

	bob.start([]string{"/ip4/127.0.0.1/tcp/0"})
	bob.waitFor(msgs...)
	if n := len(bob.h.Peers()); n != 1 {
		t.Errorf("bob is connected to %d peers, want only the mailbox", n)
	}

	// What the mailbox's database holds: no text, and no key but the
	// replication and network keys (which MAC entries and prove
	// membership: they open nothing).
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, infra.MailboxFile)+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT raw FROM mb_entries`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			t.Fatal(err)
		}
		n++
		if bytes.Contains(raw, []byte("while bob was away")) || bytes.Contains(raw, []byte("while both online")) {
			t.Fatal("the mailbox holds a message's text in clear")
		}
	}
	if n < len(msgs) {
		t.Errorf("the mailbox holds %d entries, want at least %d", n, len(msgs))
	}
}

// BenchmarkMailboxCatchUp: bob is offline while alice writes 10 000
// messages (batches of 100), alice leaves; the timed part is bob's start
// until he holds them all — fetched from the mailbox, ingested, durable in
// his store. Reports entries/s and the mailbox's bytes per message.
func BenchmarkMailboxCatchUp(b *testing.B) {
	const n = 10000
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		srv, err := infra.Start(infra.Config{Dir: dir, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoDHT: true})
		if err != nil {
			b.Fatal(err)
		}
		loopback := []string{"/ip4/127.0.0.1/tcp/0"}
		alice := newDeviceWith(b, "alice", loopback, nil, srv.Addrs())
		bob := newDeviceWith(b, "bob", loopback, nil, srv.Addrs())
		if err := alice.h.Connect(context.Background(), bob.h.Addrs()[0]); err != nil {
			b.Fatal(err)
		}
		topic := befriend(b, alice, bob)
		sendAll(b, alice, topic, []string{"hello"}, 1)
		bob.waitFor("hello")
		bob.stop()
		msgs := bodies("while bob was away", n)
		sendAll(b, alice, topic, msgs, 100)
		for srv.MailboxStats().Stored < n {
			alice.waitEvent(p2p.MailboxStored)
		}
		alice.stop()
		var size int64
		for _, f := range []string{infra.MailboxFile, infra.MailboxFile + "-wal"} {
			if fi, err := os.Stat(filepath.Join(dir, f)); err == nil {
				size += fi.Size()
			}
		}
		b.StartTimer()
		start := time.Now()
		bob.start([]string{"/ip4/127.0.0.1/tcp/0"})
		bob.waitFor(msgs...)
		b.StopTimer()
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "entries/s")
		b.ReportMetric(float64(size)/n, "mailbox-bytes/msg")
		bob.stop()
		srv.Close()
	}
}

// TestOfflineDeliveryThroughPeersMailbox: alice and bob use different
// `berty serve` nodes (each their own). Bob is reachable through his relay;
// he goes offline, alice writes and leaves. Alice's own mailbox is not
// where bob looks: she hands the conversation to bob's (the relay his
// addresses name), and bob reads it all there when he is back.
func TestOfflineDeliveryThroughPeersMailbox(t *testing.T) {
	start := func() *infra.Node {
		n, err := infra.Start(infra.Config{Dir: t.TempDir(), Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoDHT: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	hers, his := start(), start()
	alice := newDeviceWith(t, "alice", []string{"/ip4/127.0.0.1/tcp/0"}, hers.Addrs(), hers.Addrs())
	bob := newDeviceWith(t, "bob", []string{}, his.Addrs(), his.Addrs()) // behind a NAT: only his relay reaches him
	defer func() { alice.stop(); bob.stop() }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := bob.h.WaitRelayed(ctx); err != nil {
		t.Fatal(err)
	}
	if err := alice.h.Connect(ctx, bob.h.RelayAddrs()[0]); err != nil {
		t.Fatal(err)
	}
	topic := befriend(t, alice, bob)
	sendAll(t, alice, topic, []string{"while both online"}, 1)
	bob.waitFor("while both online")

	bob.stop()
	msgs := bodies("while bob was away", 20)
	for _, m := range msgs {
		sendAll(t, alice, topic, []string{m}, 1)
	}
	alice.stop() // hands over what bob's mailbox lacks, as she closes

	bob.start([]string{})
	bob.waitFor(msgs...)
	if got := his.MailboxStats().Stored; got < int64(len(msgs)) {
		t.Errorf("bob's mailbox stored %d entries, want at least %d", got, len(msgs))
	}
}
