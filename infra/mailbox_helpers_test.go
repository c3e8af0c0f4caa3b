package infra

import (
	"crypto/rand"
	"log/slog"
	"strings"
	"testing"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
)

func testMailbox(t *testing.T, lim MailboxLimits) *mailbox {
	t.Helper()
	m, err := openMailbox(t.TempDir(), fakeHost("mailbox"), lim, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.close() })
	return m
}

func regBody(rep, key [32]byte) []byte { return append(append([]byte{}, rep[:]...), key[:]...) }

// junkEntry is a signed seq-1 entry of a throwaway device: MAC'd with the
// group's replication key, signed by its own (made-up) author.
func junkEntry(t *testing.T, topic, rep [32]byte, payload int) *feed.Entry {
	t.Helper()
	dev, err := keys.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u := &feed.Unsigned{Topic: topic, Seq: 1, Lamport: 1, Kind: feed.KindMetadata, Payload: []byte(strings.Repeat("j", payload))}
	e, err := feed.Sign(u, &rep, dev)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
