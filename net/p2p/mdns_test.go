package p2p_test

import (
	"crypto/rand"
	"slices"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/berty-go/berty/net/p2p"
)

// TestMDNSFoundTogether: two devices on one network usually hear each
// other's mDNS answer at the same moment. With TCP port reuse, their two
// dials can meet as one TCP simultaneous open on which both Noise handshakes
// fail, and mDNS does not report the peer again for two minutes (that is how
// TestMDNSInNamespaces failed one run in three). After both have handled
// "peer found" at once, each must be connected to the other; repeated over
// fresh pairs so a rare crossing would show.
func TestMDNSFoundTogether(t *testing.T) {
	for round := range 5 {
		a, b := newHost(t), newHost(t)
		var wg sync.WaitGroup
		wg.Go(func() { p2p.PeerFound(a, info(t, b)) })
		wg.Go(func() { p2p.PeerFound(b, info(t, a)) })
		wg.Wait()
		for _, x := range [][2]*p2p.Host{{a, b}, {b, a}} {
			if !slices.Contains(x[0].Peers(), x[1].ID()) {
				t.Fatalf("round %d: %s is not connected to %s", round, x[0].ID(), x[1].ID())
			}
		}
		a.Close()
		b.Close()
	}
}

func newHost(t *testing.T) *p2p.Host {
	t.Helper()
	var seed [32]byte
	rand.Read(seed[:])
	h, err := p2p.New(p2p.Config{Seed: seed, Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// info is what mDNS would report for h.
func info(t *testing.T, h *p2p.Host) peer.AddrInfo {
	t.Helper()
	var addrs []ma.Multiaddr
	for _, a := range h.Addrs() {
		addrs = append(addrs, ma.StringCast(a))
	}
	ais, err := peer.AddrInfosFromP2pAddrs(addrs...)
	if err != nil || len(ais) != 1 {
		t.Fatalf("addresses of %s: %v %v", h.ID(), ais, err)
	}
	return ais[0]
}
