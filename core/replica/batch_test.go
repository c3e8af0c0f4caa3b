package replica

import (
	"bytes"
	"slices"
	"testing"

	"github.com/berty-go/berty/core/feed"
)

// sendBatch has p send bodies in one Ready: one signed tail, the rest
// authenticated by the hash chain (§4.5). It returns the outbox.
func sendBatch(t *testing.T, c *cluster, p *peer, bodies ...string) [][]byte {
	t.Helper()
	for _, b := range bodies {
		if _, err := p.r.Send([]byte(b), p.lk); err != nil {
			t.Fatal(err)
		}
	}
	rd := c.flush(p)
	var signed int
	for _, e := range rd.Outbox {
		if e.Signed {
			signed++
		}
	}
	if signed != 1 || !rd.Outbox[len(rd.Outbox)-1].Signed {
		t.Fatalf("a batch of %d entries carries %d signatures, want one on the last", len(rd.Outbox), signed)
	}
	return outboxOf(rd)
}

// TestBatchAuthenticatedByChain: a batch arrives in any order, the signed
// tail first or last; the unsigned entries are appended only once the tail
// that authenticates them is there, and everything is read.
func TestBatchAuthenticatedByChain(t *testing.T) {
	for _, reverse := range []bool{false, true} {
		c, alice, bob, _ := threeMembers(t, 200)
		bodies := []string{"one", "two", "three", "four", "five"}
		raws := sendBatch(t, c, alice, bodies...)
		if reverse {
			slices.Reverse(raws)
		}
		for i, raw := range raws[:len(raws)-1] {
			c.receive(bob, raw)
			if got := bob.bodiesFrom(alice.r.DeviceKey()); len(got) != 0 {
				t.Fatalf("reverse=%v: after %d entries without the signed tail bob reads %q", reverse, i+1, got)
			}
		}
		c.receive(bob, raws[len(raws)-1])
		want := slices.Sorted(slices.Values(bodies))
		if got := bob.bodiesFrom(alice.r.DeviceKey()); !slices.Equal(got, want) {
			t.Errorf("reverse=%v: bob reads %q, want %q", reverse, got, want)
		}
		if bob.r.Held() != 0 {
			t.Errorf("reverse=%v: %d entries still held", reverse, bob.r.Held())
		}
	}
}

// TestStrippedSignature: the signed tail with its signature removed still
// has a valid MAC, but proves nothing: it is held, never counted, until the
// signed copy arrives and replaces it.
func TestStrippedSignature(t *testing.T) {
	c, alice, bob, _ := threeMembers(t, 201)
	m := c.send(alice, "signed")
	raw := c.entryOf(alice.r.DeviceKey(), m.Seq)
	stripped := append(bytes.Clone(raw[:len(raw)-65]), 0)
	before := bob.r.Vector()
	if out, err := bob.r.Receive(stripped, bob.lk); out != feed.Held || err != nil {
		t.Fatalf("stripped entry: outcome %d, %v; want held", out, err)
	}
	rd := c.flush(bob)
	if len(rd.Entries) != 0 || len(rd.Messages) != 0 || !vectorsEqual(before, bob.r.Vector()) {
		t.Fatal("an entry whose signature was stripped was stored")
	}
	c.receive(bob, raw)
	if !bob.hasBody("signed") || bob.r.Held() != 0 {
		t.Fatalf("the signed copy did not replace the stripped one (held %d)", bob.r.Held())
	}
}

// TestForgedUnsignedEntries: someone who holds the replication key (any
// member, or a removed one) forges unsigned entries in alice's feed. They
// are never counted and are no evidence against alice: she is not frozen.
// A forgery that takes the place of a real entry only delays it until it
// comes again (as sync resends it).
func TestForgedUnsignedEntries(t *testing.T) {
	c, alice, bob, _ := threeMembers(t, 202)
	dev := alice.r.DeviceKey()
	head := alice.r.Heads()[dev]
	forge := func(seq uint64, prev feed.ID, lamport uint64) []byte {
		e, err := feed.Build(&feed.Unsigned{Topic: c.g.Keys.Topic, Seq: seq, Prev: prev, Lamport: lamport,
			Kind: feed.KindMessage, Payload: bytes.Repeat([]byte{0x66}, 90)}, &c.g.Keys.Replication, dev)
		if err != nil {
			t.Fatal(err)
		}
		return e.Encoded
	}

	// A forgery contradicting a stored entry: dropped, not equivocation.
	rd := expectRejected(t, c, bob, forge(head.Seq, head.ID, head.Lamport), feed.Refused, feed.ErrUnauthenticated)
	if len(eventsOf(rd.Events, EventEquivocation)) != 0 {
		t.Fatal("an unsigned forgery was taken as evidence of equivocation")
	}

	// A forgery at alice's next position, before her real batch.
	if out, _ := bob.r.Receive(forge(head.Seq+1, head.ID, head.Lamport+1), bob.lk); out != feed.Held {
		t.Fatalf("forgery at the next position: outcome %d, want held", out)
	}
	c.flush(bob)
	raws := sendBatch(t, c, alice, "real one", "real two")
	for _, raw := range raws {
		c.tolerate = []error{feed.ErrUnauthenticated}
		c.receive(bob, raw)
	}
	if got := bob.bodiesFrom(dev); slices.Contains(got, string(bytes.Repeat([]byte{0x66}, 90))) {
		t.Fatal("a forged entry was delivered")
	}
	// The real first entry was turned away while the forgery held its place;
	// the signed tail exposed the forgery. Sent again, everything lands.
	for _, raw := range raws {
		c.receive(bob, raw)
	}
	if got := bob.bodiesFrom(dev); !slices.Contains(got, "real one") || !slices.Contains(got, "real two") {
		t.Fatalf("bob reads %q from alice after the real entries came again", got)
	}
	if _, frozen := bob.r.tracker.Limit(dev); frozen {
		t.Fatal("alice was frozen because of forgeries")
	}
	if _, err := alice.r.Send([]byte("still writing"), alice.lk); err != nil {
		t.Fatal(err)
	}
	c.flush(alice)
	c.sync()
	if !bob.hasBody("still writing") {
		t.Fatal("alice's later message did not reach bob")
	}
}
