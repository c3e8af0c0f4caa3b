package p2p

import (
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// ClosingGate is a connection gater that refuses every new dial and
// connection once Close is called. libp2p's swarm does not wait for its
// dial workers when it closes, and a worker that runs while the transports
// are torn down dereferences a nil transport (go-libp2p issue 1545, seen
// here as a panic in a test run). A host closes its gate before it closes
// libp2p, so that nothing — its own loops, identify, the DHT, the relay
// client — starts a dial into the teardown.
type ClosingGate struct{ closed atomic.Bool }

// Close makes the gate refuse from now on.
func (g *ClosingGate) Close() { g.closed.Store(true) }

func (g *ClosingGate) open() bool { return !g.closed.Load() }

// InterceptPeerDial implements connmgr.ConnectionGater.
func (g *ClosingGate) InterceptPeerDial(peer.ID) bool { return g.open() }

// InterceptAddrDial implements connmgr.ConnectionGater.
func (g *ClosingGate) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return g.open() }

// InterceptAccept implements connmgr.ConnectionGater.
func (g *ClosingGate) InterceptAccept(network.ConnMultiaddrs) bool { return g.open() }

// InterceptSecured implements connmgr.ConnectionGater.
func (g *ClosingGate) InterceptSecured(network.Direction, peer.ID, network.ConnMultiaddrs) bool {
	return g.open()
}

// InterceptUpgraded implements connmgr.ConnectionGater.
func (g *ClosingGate) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return g.open(), 0
}
