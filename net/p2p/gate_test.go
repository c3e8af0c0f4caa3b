package p2p

import (
	"context"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
)

// TestClosingGateRefusesDials: once a host's gate is closed (the first step
// of Close), a dial is refused by the gater before it reaches libp2p's
// dial workers, which may otherwise run into the transports' teardown.
func TestClosingGateRefusesDials(t *testing.T) {
	a, err := New(Config{Seed: [32]byte{1}, Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New(Config{Seed: [32]byte{2}, Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	info := peer.AddrInfo{ID: b.h.ID(), Addrs: b.h.Addrs()}
	a.gate.Close()
	err = a.h.Connect(context.Background(), info)
	if !errors.Is(err, swarm.ErrGaterDisallowedConnection) {
		t.Fatalf("a dial through a closed gate: %v, want ErrGaterDisallowedConnection", err)
	}
}
