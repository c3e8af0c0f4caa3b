package replica

import (
	"crypto/rand"
	"testing"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
)

// benchPair returns two replicas of one contact group that know each other.
// headLookup is storage that keeps only what Offer reads (ID and clock per
// position), as the store's index does: a benchmark of the message path
// must not pay the garbage collector for holding every entry in memory.
type headLookup map[keys.Public]map[uint64]feed.Head

func (m headLookup) Entry(d keys.Public, s uint64) (feed.Head, bool, error) {
	h, ok := m[d][s]
	return h, ok, nil
}

func (m headLookup) persist(rd Ready) {
	for _, e := range rd.Entries {
		if m[e.Author] == nil {
			m[e.Author] = map[uint64]feed.Head{}
		}
		m[e.Author][e.Seq] = feed.Head{Seq: e.Seq, ID: e.ID, Lamport: e.Lamport}
	}
}

func benchPair(b *testing.B) (ra, rb *Replica, la, lb headLookup) {
	b.Helper()
	a, _ := keys.Generate(rand.Reader)
	bk, _ := keys.Generate(rand.Reader)
	ad, _ := keys.Generate(rand.Reader)
	bd, _ := keys.Generate(rand.Reader)
	ga, err := group.Contact(a, bk.Public())
	if err != nil {
		b.Fatal(err)
	}
	gb, _ := group.Contact(bk, a.Public())
	ra, _ = New(Config{Group: ga, Account: a, Device: ad, Rand: rand.Reader}, nil)
	rb, _ = New(Config{Group: gb, Account: bk, Device: bd, Rand: rand.Reader}, nil)
	la, lb = headLookup{}, headLookup{}
	exchange := func(from *Replica, fl headLookup, to *Replica, tl headLookup) {
		rd := from.Ready()
		fl.persist(rd)
		from.Advance()
		for _, e := range rd.Outbox {
			if _, err := to.ReceiveEntry(e, tl); err != nil {
				b.Fatal(err)
			}
		}
		trd := to.Ready()
		tl.persist(trd)
		to.Advance()
	}
	if err := ra.AnnounceOwner(la); err != nil {
		b.Fatal(err)
	}
	if err := rb.AnnounceOwner(lb); err != nil {
		b.Fatal(err)
	}
	exchange(ra, la, rb, lb)
	exchange(rb, lb, ra, la)
	exchange(ra, la, rb, lb)
	return ra, rb, la, lb
}

// BenchmarkAppend: a device sends a 200-byte message — ratchet step, seal,
// entry built and appended — in batches of 100 per Ready, so one signature
// per 100 (§4.5), snapshot included. Per message.
func BenchmarkAppend(b *testing.B) {
	ra, _, la, _ := benchPair(b)
	body := make([]byte, 200)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := ra.Send(body, la); err != nil {
			b.Fatal(err)
		}
		if i++; i%100 == 0 {
			la.persist(ra.Ready())
			ra.Advance()
		}
	}
}

// BenchmarkIngest: a device receives another's messages, sent in batches of
// 100 — verify, order, authenticate by chain, open — with one Ready per
// batch. Per message; verification is sequential here (the node spreads it
// over the cores).
func BenchmarkIngest(b *testing.B) {
	ra, rb, la, lb := benchPair(b)
	body := make([]byte, 200)
	var raws [][]byte
	produce := func() {
		for range 100 {
			if _, err := ra.Send(body, la); err != nil {
				b.Fatal(err)
			}
		}
		rd := ra.Ready()
		la.persist(rd)
		ra.Advance()
		for _, e := range rd.Outbox {
			raws = append(raws, e.Encoded)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if len(raws) == 0 {
			b.StopTimer()
			produce()
			b.StartTimer()
		}
		if out, err := rb.Receive(raws[0], lb); err != nil {
			b.Fatalf("outcome %d: %v", out, err)
		}
		raws = raws[1:]
		if len(raws) == 0 {
			lb.persist(rb.Ready())
			rb.Advance()
		}
	}
}
