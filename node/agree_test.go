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
	p := newDiskPair(t, func(c *node.Config) { c.RotateEvery = 5 })
	a, b, topic, dir, run, send := p.a, p.b, p.topic, p.dir, p.run, p.send
	sa := p.sa
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

// diskPair is alice and bob, contacts over memnet, alice's data on a real
// SQLite file in dir (bob's elsewhere): for the tests that look for deleted
// keys in her files.
type diskPair struct {
	t     *testing.T
	dir   string
	path  string        // alice's database
	sa    *sqlite.Store // alice's store
	conf  func(*node.Config)
	hub   *memnet.Hub
	ea    *memnet.Endpoint
	a, b  *node.Node
	topic [32]byte
}

func newDiskPair(t *testing.T, conf func(*node.Config)) *diskPair {
	t.Helper()
	p := &diskPair{t: t, dir: t.TempDir(), conf: conf, hub: memnet.New(5, 0, 4)}
	p.path = filepath.Join(p.dir, "alice.db")
	var err error
	if p.sa, err = sqlite.Open(p.path); err != nil {
		t.Fatal(err)
	}
	sb, err := sqlite.Open(filepath.Join(t.TempDir(), "bob.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	p.ea = p.hub.Attach(func(topic [32]byte, raws [][]byte) error { _, err := p.a.Receive(topic, raws); return err })
	eb := p.hub.Attach(func(topic [32]byte, raws [][]byte) error { _, err := p.b.Receive(topic, raws); return err })
	p.a, p.b, p.topic = pair(t, p.sa, sb, p.ea, eb, conf)
	return p
}

func (p *diskPair) run() {
	p.t.Helper()
	if err := p.hub.Run(); err != nil {
		p.t.Fatal(err)
	}
}

func (p *diskPair) send(n *node.Node, body string) {
	p.t.Helper()
	if _, err := n.Send(p.topic, []byte(body)); err != nil {
		p.t.Fatal(err)
	}
}

// restartAlice closes alice's node and store and opens them again.
func (p *diskPair) restartAlice() {
	p.t.Helper()
	if err := p.a.Close(); err != nil {
		p.t.Fatal(err)
	}
	p.sa.Close()
	var err error
	if p.sa, err = sqlite.Open(p.path); err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { p.sa.Close() })
	c := node.Config{Store: p.sa, Transport: p.ea}
	p.conf(&c)
	if p.a, err = node.Open(c); err != nil {
		p.t.Fatal(err)
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
