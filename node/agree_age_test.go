package node_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berty-go/berty/net/memnet"
	"github.com/berty-go/berty/node"
	"github.com/berty-go/berty/store/sqlite"
)

// TestKeyDeletedByAgeLeavesNoPiece (second review of §6.4): a variant of
// TestDeletedKeyLeavesTheDataDirectory where alice's replaced key goes by
// age (Tick past AgreeKeep, bob silent), after a restart of alice, with many
// keys held (a snapshot larger than a page), and the search looks for every
// 16-byte piece of the key (a copy split across two pages is found too).
func TestKeyDeletedByAgeLeavesNoPiece(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "alice.db")
	sa, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sqlite.Open(filepath.Join(t.TempDir(), "bob.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { return now }
	hub := memnet.New(5, 0, 4)
	var a, b *node.Node
	ea := hub.Attach(func(topic [32]byte, raws [][]byte) error { _, err := a.Receive(topic, raws); return err })
	eb := hub.Attach(func(topic [32]byte, raws [][]byte) error { _, err := b.Receive(topic, raws); return err })
	conf := func(c *node.Config) { c.RotateEvery = 2; c.Now = clock }
	a, b, topic := pair(t, sa, sb, ea, eb, conf)
	run := func() {
		t.Helper()
		if err := hub.Run(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Send(topic, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	run()
	// bob goes silent; alice rotates often: many keys held, none deleted.
	for range 40 {
		if _, err := a.Send(topic, []byte("m")); err != nil {
			t.Fatal(err)
		}
	}
	held := a.AgreementKeysForTest(topic)
	if len(held) < 10 {
		t.Fatalf("setup: alice holds %d keys", len(held))
	}
	old := held[:len(held)-1]
	// restart alice
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	sa.Close()
	if sa, err = sqlite.Open(path); err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	c := node.Config{Store: sa, Transport: ea}
	conf(&c)
	if a, err = node.Open(c); err != nil {
		t.Fatal(err)
	}
	var chunks [][]byte
	for _, k := range old {
		for i := 0; i+16 <= len(k); i += 16 {
			chunks = append(chunks, k[i:i+16])
		}
	}
	if where := holding(t, dir, chunks); len(where) == 0 {
		t.Fatal("setup: the held keys are in no file")
	}
	now = now.Add(31 * 24 * time.Hour)
	if err := a.Tick(); err != nil {
		t.Fatal(err)
	}
	for _, k := range a.AgreementKeysForTest(topic) {
		for _, o := range old {
			if string(k) == string(o) {
				t.Fatalf("alice still holds a key replaced 31 days ago")
			}
		}
	}
	if where := holding(t, dir, chunks); len(where) > 0 {
		t.Errorf("a piece of a key deleted by age is still in %s", strings.Join(where, ", "))
	}
}
