package node_test

import (
	"strings"
	"testing"
	"time"

	"github.com/berty-go/berty/node"
)

// TestKeyDeletedByAgeLeavesNoPiece (second review of §6.4): a variant of
// TestDeletedKeyLeavesTheDataDirectory where alice's replaced key goes by
// age (Tick past AgreeKeep, bob silent), after a restart of alice, with many
// keys held (a snapshot larger than a page), and the search looks for every
// 16-byte piece of the key (a copy split across two pages is found too).
func TestKeyDeletedByAgeLeavesNoPiece(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	p := newDiskPair(t, func(c *node.Config) { c.RotateEvery = 2; c.Now = func() time.Time { return now } })
	p.send(p.b, "hello")
	p.run()
	// bob goes silent; alice rotates often: many keys held, none deleted.
	for range 40 {
		p.send(p.a, "m")
	}
	held := p.a.AgreementKeysForTest(p.topic)
	if len(held) < 10 {
		t.Fatalf("setup: alice holds %d keys", len(held))
	}
	old := held[:len(held)-1]
	p.restartAlice()
	a, dir, topic := p.a, p.dir, p.topic
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
