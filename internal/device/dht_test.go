package device_test

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/internal/device"
	"github.com/berty-go/berty/net/p2p"
	"github.com/berty-go/berty/node"
)

// TestDHTRendezvous: alice and carol know only a bootstrap node, with the DHT
// on; they find each other and chat, though the test never connects them.
// (In a network this small the DHT's own refresh may connect them before
// the rendezvous does; net/p2p's TestRendezvousFindsGroupPeer checks the
// rendezvous records themselves.)
func TestDHTRendezvous(t *testing.T) {
	boot, err := p2p.New(p2p.Config{DHT: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { boot.Close() })
	open := func(name string) *dev {
		x := &dev{t: t, name: name, path: filepath.Join(t.TempDir(), name+".db")}
		d, err := device.Open(device.Config{Path: x.path, Name: name,
			Net: p2p.Config{DHT: true, Bootstrap: boot.Addrs()[:1], RendezvousEvery: 2 * time.Second,
				SyncInterval: time.Hour},
			Node:      node.Config{Deliver: func(node.Delivery) { x.bump() }, Events: func([32]byte, replica.Event) { x.bump() }},
			OnReceive: x.bump})
		if err != nil {
			t.Fatal(err)
		}
		x.d = d
		t.Cleanup(x.stop)
		return x
	}
	alice, carol := open("alice"), open("carol")
	topic, err := alice.d.Node.AddContact(carol.d.Node.AccountKey(), "carol")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := carol.d.Node.AddContact(alice.d.Node.AccountKey(), "alice"); err != nil {
		t.Fatal(err)
	}
	send(t, alice, topic, "found you through the DHT", 1, 1)
	carol.until("alice's message", func() bool { return carol.count(topic) == 1 })
	if !slices.Contains(carol.d.Host.Peers(), alice.d.Host.ID()) {
		t.Error("carol is not connected to alice")
	}
}
