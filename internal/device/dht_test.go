package device_test

import (
	"slices"
	"testing"
	"time"

	"github.com/berty-go/berty/core/state"
	"github.com/berty-go/berty/internal/device"
	"github.com/berty-go/berty/net/p2p"
)

// TestContactRequestsOverDHT: alice, bob and carol know only a bootstrap
// node, with the DHT on; the test never connects them to each other. Bob
// requests alice by her link and alice requests carol by hers; each request
// finds its responder at the link's rendezvous point, is accepted, and the
// contacts chat both ways. (In a network this small the DHT's own refresh
// may connect the devices before a lookup does; net/p2p's
// TestRendezvousFindsGroupPeer checks the provider records themselves.)
func TestContactRequestsOverDHT(t *testing.T) {
	boot, err := p2p.New(p2p.Config{DHT: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { boot.Close() })
	dht := func(c *device.Config) {
		c.Net.DHT, c.Net.Bootstrap, c.Net.RendezvousEvery = true, boot.Addrs()[:1], 2*time.Second
	}
	alice, bob, carol := newDevWith(t, "alice", dht), newDevWith(t, "bob", dht), newDevWith(t, "carol", dht)
	for _, req := range []struct{ from, to *dev }{{bob, alice}, {alice, carol}} {
		if _, err := req.from.d.RequestContact(req.to.link()); err != nil {
			t.Fatal(err)
		}
		req.to.until("the request", func() bool { return req.to.contactState(req.from) == state.ContactIncoming })
		if err := req.to.d.Node.AcceptContact(req.from.d.Node.AccountKey()); err != nil {
			t.Fatal(err)
		}
		chat(t, req.from, req.to)
	}
	if !slices.Contains(carol.d.Host.Peers(), alice.d.Host.ID()) {
		t.Error("carol is not connected to alice")
	}
}
