package p2p_test

import (
	"bytes"
	"testing"

	pubsub "github.com/libp2p/go-libp2p-pubsub"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/net/p2p"
)

// TestGossipReplaysIgnored: gossip that only repeats entries seen before —
// a recorded entry re-packed into new batches, so that pubsub's message IDs
// differ — is ignored (neither delivered nor forwarded), and a batch that
// repeats an entry is rejected; a batch with one new entry goes through.
// Without this, a peer holding recorded entries made every member verify
// and forward them again and again.
func TestGossipReplaysIgnored(t *testing.T) {
	x := newHost(t)
	var topic, replication [32]byte
	topic[0], replication[0] = 1, 2
	author := keys.FromSeed([32]byte{3})
	entry := func(seq uint64, prev feed.ID) *feed.Entry {
		e, err := feed.Build(&feed.Unsigned{Topic: topic, Seq: seq, Prev: prev, Lamport: seq, Kind: feed.KindMetadata, Payload: []byte{byte(seq)}},
			&replication, author.Public())
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e1 := entry(1, feed.ID{})
	e2 := entry(2, e1.ID)
	e3 := entry(3, e2.ID)
	e4 := entry(4, e3.ID).WithSignature(author)
	spoiled := bytes.Clone(e4.Encoded)
	spoiled[len(spoiled)-1] ^= 1 // in the signature
	from := newHost(t).ID()
	for _, tc := range []struct {
		name string
		raws [][]byte
		want pubsub.ValidationResult
	}{
		{"two new entries", [][]byte{e1.Encoded, e2.Encoded}, pubsub.ValidationAccept},
		{"the same again", [][]byte{e1.Encoded, e2.Encoded}, pubsub.ValidationIgnore},
		{"re-packed", [][]byte{e2.Encoded, e1.Encoded}, pubsub.ValidationIgnore},
		{"one of them", [][]byte{e2.Encoded}, pubsub.ValidationIgnore},
		{"an entry twice", [][]byte{e3.Encoded, e3.Encoded}, pubsub.ValidationReject},
		{"old ones and a new one", [][]byte{e1.Encoded, e2.Encoded, e3.Encoded}, pubsub.ValidationAccept},
		{"a wrong MAC", [][]byte{append(bytes.Clone(e3.Encoded[:len(e3.Encoded)-2]), 0xff, 0)}, pubsub.ValidationReject},
		// The ID and the MAC do not cover the signature: a copy with a
		// spoiled one, seen first, must not make the genuine entry look
		// seen (the replica refuses the copy; the genuine must get through).
		{"a spoiled copy first", [][]byte{spoiled}, pubsub.ValidationAccept},
		{"then the genuine entry", [][]byte{e4.Encoded}, pubsub.ValidationAccept},
		{"then the genuine entry again", [][]byte{e4.Encoded}, pubsub.ValidationIgnore},
	} {
		if got := p2p.Validate(x, topic, replication, from, p2p.EncodeBatch(tc.raws)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
