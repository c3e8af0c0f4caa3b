package node_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berty-go/berty/net/memnet"
	"github.com/berty-go/berty/node"
	"github.com/berty-go/berty/store/sqlite"
)

// TestDeletedKeyLeavesTheDataDirectory (§6.4, §8): once alice's device has
// replaced its key-agreement key in a contact group and bob has written
// after seeing the replacement, the old private key is deleted — and gone
// from every file of her data directory (database, WAL), not only from the
// replica's memory: a thief who copies the directory then opens none of the
// chain-key boxes sealed to it.
func TestDeletedKeyLeavesTheDataDirectory(t *testing.T) {
	dir := t.TempDir()
	sa, err := sqlite.Open(filepath.Join(dir, "alice.db"))
	if err != nil {
		t.Fatal(err)
	}
	sb, err := sqlite.Open(filepath.Join(t.TempDir(), "bob.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	hub := memnet.New(5, 0, 4)
	var a, b *node.Node
	ea := hub.Attach(func(topic [32]byte, raws [][]byte) error { _, err := a.Receive(topic, raws); return err })
	eb := hub.Attach(func(topic [32]byte, raws [][]byte) error { _, err := b.Receive(topic, raws); return err })
	a, b, topic := pair(t, sa, sb, ea, eb, func(c *node.Config) { c.RotateEvery = 5 })
	run := func() {
		t.Helper()
		if err := hub.Run(); err != nil {
			t.Fatal(err)
		}
	}
	send := func(n *node.Node, body string) {
		t.Helper()
		if _, err := n.Send(topic, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	send(b, "hello")
	run()
	old := a.AgreementKeysForTest(topic)
	if len(old) == 0 {
		t.Fatal("setup: alice holds no key-agreement key")
	}
	if where := holding(t, dir, old); len(where) == 0 {
		t.Fatal("setup: alice's key-agreement key is in no file of her data directory: the search finds nothing")
	}
	// Alice sends past RotateEvery: a new chain and a new key.
	for range 6 {
		send(a, "m")
	}
	run()
	send(b, "after the update") // depends on alice's update
	run()
	now := a.AgreementKeysForTest(topic)
	for _, k := range old {
		for _, n := range now {
			if bytes.Equal(k, n) {
				t.Fatalf("alice still holds a replaced key once bob wrote after her update (%d keys)", len(now))
			}
		}
	}
	// A copy of the directory of the running device (database and WAL),
	// then of the closed one.
	if where := holding(t, dir, old); len(where) > 0 {
		t.Errorf("a deleted key-agreement key is still in %s of the running device", strings.Join(where, ", "))
	}
	if err := sa.Close(); err != nil {
		t.Fatal(err)
	}
	if where := holding(t, dir, old); len(where) > 0 {
		t.Errorf("a deleted key-agreement key is still in %s once the device stopped", strings.Join(where, ", "))
	}
}

// holding returns the files of dir that contain one of ks.
func holding(t *testing.T, dir string, ks [][]byte) []string {
	t.Helper()
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		raw, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range ks {
			if bytes.Contains(raw, k) {
				out = append(out, f.Name())
				break
			}
		}
	}
	return out
}
