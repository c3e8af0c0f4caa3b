package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// relayBackoff bounds the wait before asking a relay for a slot again
// after it refused or could not be reached.
const relayBackoff = time.Minute

// parseAddrs parses multiaddrs that end in /p2p/ID; what names the flag in
// errors.
func parseAddrs(what string, addrs []string) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	for _, a := range addrs {
		ai, err := peer.AddrInfoFromString(a)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w (want a multiaddr ending in /p2p/ID)", what, a, err)
		}
		// One node given by several addresses (its TCP and QUIC lines) is
		// one relay, one mailbox.
		if i := slices.IndexFunc(out, func(o peer.AddrInfo) bool { return o.ID == ai.ID }); i >= 0 {
			out[i].Addrs = append(out[i].Addrs, ai.Addrs...)
			continue
		}
		out = append(out, *ai)
	}
	return out, nil
}

// natOptions are the libp2p options for Config.NAT.
func natOptions(cfg Config) []libp2p.Option {
	if !cfg.NAT {
		return []libp2p.Option{libp2p.DisableRelay()}
	}
	return []libp2p.Option{libp2p.EnableRelay(), libp2p.EnableHolePunching(), libp2p.EnableAutoNATv2()}
}

// slots are the relay slots a host holds (Config.Relays), and the relayed
// addresses they give it.
type slots struct {
	mu    sync.Mutex
	addrs map[peer.ID][]ma.Multiaddr
	lost  map[peer.ID]chan struct{} // signalled when the relay disconnects
	emit  event.Emitter
}

// holdSlot keeps a slot on a relay (§10.4): it dials the relay, reserves,
// advertises the relayed addresses, renews the slot at half its lifetime
// and at once when the connection to the relay ends; on failure it tries
// again with backoff from 1 s to relayBackoff. (libp2p's AutoRelay would do
// this only for relays on public addresses, and after AutoNAT decided the
// host is private: a relay on a LAN, or a device that is not behind a NAT
// but not dialable either, would get no slot.)
func (x *Host) holdSlot(ai peer.AddrInfo) {
	circuit := ma.StringCast("/p2p/" + ai.ID.String() + "/p2p-circuit")
	// The relayed addresses are those of the connections the slot was
	// reserved on: an address given that does not work (a wrong port) is
	// not advertised; the given ones serve until a connection exists.
	relayedAddrs := func() []ma.Multiaddr {
		var out []ma.Multiaddr
		for _, c := range x.h.Network().ConnsToPeer(ai.ID) {
			if a := c.RemoteMultiaddr(); !isRelayed(c) && !slices.ContainsFunc(out, a.Encapsulate(circuit).Equal) {
				out = append(out, a.Encapsulate(circuit))
			}
		}
		if len(out) == 0 {
			for _, a := range ai.Addrs {
				out = append(out, a.Encapsulate(circuit))
			}
		}
		return out
	}
	backoff, failing := time.Second, false
	for {
		ctx, cancel := context.WithTimeout(x.ctx, 30*time.Second)
		x.clearBackoff(ai.ID)
		err := x.h.Connect(ctx, ai)
		var rsvp *client.Reservation
		if err == nil {
			rsvp, err = client.Reserve(ctx, x.h, ai)
		}
		cancel()
		if x.ctx.Err() != nil {
			return
		}
		wait := backoff
		if err != nil {
			x.setSlot(ai.ID, nil)
			if !failing {
				x.log.Warn("relay: no slot; will keep trying", "relay", ai.ID, "err", err)
				failing = true
			}
			backoff = min(backoff*2, relayBackoff)
		} else {
			x.setSlot(ai.ID, relayedAddrs())
			if failing || backoff == time.Second {
				x.log.Info("relay: slot held", "relay", ai.ID, "until", rsvp.Expiration.Format(time.RFC3339),
					"circuit_duration", rsvp.LimitDuration, "circuit_bytes", rsvp.LimitData)
			}
			failing, backoff = false, 2*time.Second
			wait = max(time.Until(rsvp.Expiration)/2, 10*time.Second)
			x.cm.Protect(ai.ID, "berty-relay")
		}
		t := time.NewTimer(wait)
		select {
		case <-x.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-x.slots.lost[ai.ID]:
			t.Stop()
			x.setSlot(ai.ID, nil)
			backoff = time.Second
		}
	}
}

// setSlot records the relayed addresses a relay gives (nil: none now) and
// tells libp2p, which advertises them while it knows no direct address of
// the host's to be reachable.
func (x *Host) setSlot(relay peer.ID, addrs []ma.Multiaddr) {
	s := &x.slots
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.EqualFunc(s.addrs[relay], addrs, ma.Multiaddr.Equal) {
		return
	}
	if addrs == nil {
		delete(s.addrs, relay)
	} else {
		s.addrs[relay] = addrs
	}
	var all []ma.Multiaddr
	for _, a := range s.addrs {
		all = append(all, a...)
	}
	slices.SortFunc(all, ma.Multiaddr.Compare)
	if err := s.emit.Emit(event.EvtAutoRelayAddrsUpdated{RelayAddrs: all}); err != nil {
		x.log.Debug("relay: emit addresses", "err", err)
	}
}

// connected reports whether the host has a connection to p, direct or
// relayed.
func (x *Host) connected(p peer.ID) bool {
	c := x.h.Network().Connectedness(p)
	return c == network.Connected || c == network.Limited
}

// limitedOnly reports whether every connection to p is relayed with limits:
// gossip does not reach p, sync does.
func (x *Host) limitedOnly(p peer.ID) bool {
	return x.h.Network().Connectedness(p) == network.Limited
}

// Route says how a peer is reached now: "direct", "relayed" (every
// connection goes through a relay) or "" (not connected).
func (x *Host) Route(p peer.ID) string {
	conns := x.h.Network().ConnsToPeer(p)
	if len(conns) == 0 {
		return ""
	}
	if slices.ContainsFunc(conns, func(c network.Conn) bool { return !isRelayed(c) }) {
		return "direct"
	}
	return "relayed"
}

// isRelayed reports whether a connection goes through a circuit relay.
func isRelayed(c network.Conn) bool {
	_, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// pushRelayed syncs a group at once with its peers that only a relayed,
// limited connection reaches: gossip does not use such a connection, and
// the nudge after a publish waits for gossip first (§10.4).
func (x *Host) pushRelayed(topicID [32]byte) {
	x.mu.Lock()
	defer x.mu.Unlock()
	t := x.topics[topicID]
	if t == nil {
		return
	}
	for _, p := range x.peersOf(t) {
		if x.limitedOnly(p) {
			x.startSyncLocked(p, topicID)
		}
	}
}

// watchConnections logs how peers come and go (at info: what a user
// debugging reachability reads first) and syncs every group with a peer
// reached only through a relay. Gossip does not run over such a
// connection, so the sync that a gossip "peer joined" would start is
// started here; a stranger reached this way learns the network IDs this
// host asks about, as any directly connected peer learns them from gossip
// subscriptions (§10.1).
func (x *Host) watchConnections() error {
	sub, err := x.h.EventBus().Subscribe([]any{new(event.EvtPeerConnectednessChanged), new(event.EvtLocalReachabilityChanged),
		new(event.EvtLocalAddressesUpdated), new(event.EvtPeerIdentificationCompleted)},
		// Emitters (identify, the swarm) wait for a subscriber whose
		// buffer is full: room for bursts of connections.
		eventbus.BufSize(1024))
	if err != nil {
		return err
	}
	x.wg.Go(func() {
		defer sub.Close()
		for {
			var ev any
			select {
			case <-x.ctx.Done():
				return
			case ev = <-sub.Out():
			}
			switch e := ev.(type) {
			case event.EvtPeerConnectednessChanged:
				if ch := x.mbox.wake[e.Peer]; ch != nil && e.Connectedness != network.NotConnected {
					select { // a mailbox reached: exchange with it now
					case ch <- struct{}{}:
					default:
					}
				}
				switch e.Connectedness {
				case network.Connected:
					route := x.Route(e.Peer)
					x.log.Info("peer connected", "peer", e.Peer, "route", route)
					if route == "relayed" {
						x.tryDirect(e.Peer)
					}
				case network.Limited:
					x.log.Info("peer connected", "peer", e.Peer, "route", "relayed")
					x.tryDirect(e.Peer)
					x.mu.Lock()
					for id := range x.topics {
						x.startSyncLocked(e.Peer, id)
					}
					x.mu.Unlock()
				case network.NotConnected:
					x.log.Info("peer disconnected", "peer", e.Peer)
					if ch := x.slots.lost[e.Peer]; ch != nil {
						select {
						case ch <- struct{}{}:
						default:
						}
					}
					if x.isGroupPeer(e.Peer) {
						x.redial(e.Peer)
						x.peerLeft(e.Peer)
					}
				}
			case event.EvtPeerIdentificationCompleted:
				// Its direct addresses are known now.
				if x.Route(e.Peer) == "relayed" {
					x.tryDirect(e.Peer)
				}
			case event.EvtLocalReachabilityChanged:
				x.log.Info("reachability", "now", e.Reachability.String())
			case event.EvtLocalAddressesUpdated:
				var addrs []string
				for _, a := range e.Current {
					addrs = append(addrs, a.Address.String())
				}
				x.log.Info("addresses changed", "addrs", addrs)
				x.addrsChanged()
			}
		}
	})
	return nil
}

// addrsChanged wakes what announces this host's addresses (its groups'
// rendezvous and its contact points on the DHT): a record made with the
// old addresses (before a relay slot, or on an old port) would not reach
// it.
func (x *Host) addrsChanged() {
	x.wakeMu.Lock()
	close(x.wake)
	x.wake = make(chan struct{})
	x.wakeMu.Unlock()
	select {
	case x.points.wake <- struct{}{}:
	default:
	}
}

// addrsWake returns a channel closed at the next change of addresses.
func (x *Host) addrsWake() <-chan struct{} {
	x.wakeMu.Lock()
	defer x.wakeMu.Unlock()
	return x.wake
}

// maxRedials bounds the peers the host redials at once.
const maxRedials = 256

// redial keeps trying to reach a group peer that went away — one that
// proved a network's key, or one remembered from an earlier run — with
// backoff from 1 s to 1 min, for as long as it is not connected: a relayed
// connection ends at its relay's limits, a peer restarts. It gives up after
// redialFor without success (the DHT rendezvous, run by the groups, finds
// a peer that moved).
func (x *Host) redial(p peer.ID) {
	x.mu.Lock()
	if x.closed || x.redialing[p] || len(x.redialing) >= maxRedials {
		x.mu.Unlock()
		return
	}
	x.redialing[p] = true
	x.mu.Unlock()
	x.wg.Go(func() {
		defer func() {
			x.mu.Lock()
			delete(x.redialing, p)
			x.mu.Unlock()
		}()
		backoff := time.Second
		giveUp := time.Now().Add(redialFor)
		for !x.connected(p) && time.Now().Before(giveUp) {
			x.clearBackoff(p)
			ctx, cancel := context.WithTimeout(x.ctx, 10*time.Second)
			err := x.h.Connect(ctx, peer.AddrInfo{ID: p})
			cancel()
			if err == nil {
				x.log.Info("peer reached again", "peer", p, "route", x.Route(p))
				return
			}
			x.log.Debug("redial failed", "peer", p, "err", err)
			select {
			case <-x.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, time.Minute)
		}
	})
}

// redialFor is how long the host tries to reach a group peer again.
const redialFor = time.Hour

// isGroupPeer reports whether p proved the key of any network (in this
// run, or in an earlier one: Config.Known).
func (x *Host) isGroupPeer(p peer.ID) bool {
	x.provenMu.RLock()
	defer x.provenMu.RUnlock()
	for _, ms := range []map[[32]byte]map[peer.ID]bool{x.proven, x.met} {
		for _, m := range ms {
			if m[p] {
				return true
			}
		}
	}
	return false
}

// KnownPeer is a group peer met before: its addresses and the networks
// it proved it holds.
type KnownPeer struct {
	peer.AddrInfo
	Networks [][32]byte
	// Fresh: it proved a network's key in this run (not only in an
	// earlier one).
	Fresh bool
}

// maxKnownNetworks bounds the networks remembered of one peer.
const maxKnownNetworks = 64

// KnownPeers returns the group peers this host met (they proved a
// network's key, in this run or an earlier one) with their addresses,
// relayed ones included, and those networks: what a device keeps across
// restarts to find its peers again at once, and to know whose mailbox
// keeps a group for a peer that is away (Config.Known).
func (x *Host) KnownPeers() []KnownPeer {
	x.provenMu.RLock()
	nets := map[peer.ID][][32]byte{}
	fresh := map[peer.ID]bool{}
	for _, m := range x.proven {
		for p := range m {
			fresh[p] = true
		}
	}
	for _, ms := range []map[[32]byte]map[peer.ID]bool{x.proven, x.met} {
		for id, m := range ms {
			for p := range m {
				if !slices.Contains(nets[p], id) && len(nets[p]) < maxKnownNetworks {
					nets[p] = append(nets[p], id)
				}
			}
		}
	}
	x.provenMu.RUnlock()
	var out []KnownPeer
	for p, ns := range nets {
		if addrs := x.h.Peerstore().Addrs(p); len(addrs) > 0 {
			slices.SortFunc(ns, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
			out = append(out, KnownPeer{AddrInfo: peer.AddrInfo{ID: p, Addrs: addrs}, Networks: ns, Fresh: fresh[p]})
		}
	}
	slices.SortFunc(out, func(a, b KnownPeer) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return out
}

// groupPeersOf returns the peers known to be in a group (they proved one
// of its networks' keys, now or in an earlier run), connected or not.
func (x *Host) groupPeersOf(t *topic) []peer.ID {
	x.provenMu.RLock()
	defer x.provenMu.RUnlock()
	var out []peer.ID
	for _, nw := range t.nets {
		for _, m := range []map[peer.ID]bool{x.proven[nw.id], x.met[nw.id]} {
			for p := range m {
				if !slices.Contains(out, p) {
					out = append(out, p)
				}
			}
		}
	}
	return out
}

// relaysOf returns the relays through which a peer was reachable (from
// its relayed addresses): where its mailboxes are, if it uses `berty
// serve` nodes (§10.5).
func (x *Host) relaysOf(p peer.ID) []peer.AddrInfo {
	var out []peer.AddrInfo
	for _, a := range x.h.Peerstore().Addrs(p) {
		relayAddr, _ := ma.SplitFunc(a, func(c ma.Component) bool { return c.Code() == ma.P_CIRCUIT })
		if len(relayAddr) == 0 || len(relayAddr) == len(a) {
			continue
		}
		ai, err := peer.AddrInfoFromP2pAddr(relayAddr)
		if err != nil || ai.ID == x.h.ID() {
			continue
		}
		if i := slices.IndexFunc(out, func(o peer.AddrInfo) bool { return o.ID == ai.ID }); i >= 0 {
			out[i].Addrs = append(out[i].Addrs, ai.Addrs...)
		} else {
			out = append(out, *ai)
		}
	}
	return out
}

// RelayAddrs returns the host's relayed addresses (with /p2p-circuit):
// those a peer that cannot dial it directly uses. Empty until a relay gave
// it a slot.
func (x *Host) RelayAddrs() []string {
	var out []string
	for _, a := range x.Addrs() {
		if strings.Contains(a, "/p2p-circuit") {
			out = append(out, a)
		}
	}
	return out
}

// WaitRelayed blocks until the host has a relayed address, or ctx ends.
func (x *Host) WaitRelayed(ctx context.Context) error {
	for {
		wake := x.addrsWake()
		if len(x.RelayAddrs()) > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no relay slot yet: %w", ctx.Err())
		case <-x.ctx.Done():
			return errors.New("p2p: host is closed")
		case <-wake:
		}
	}
}

// ListenAddrs returns the addresses the host listens on, with the ports it
// got (an address given with port 0 shows the port chosen).
func (x *Host) ListenAddrs() []string {
	var out []string
	for _, a := range x.h.Network().ListenAddresses() {
		out = append(out, a.String())
	}
	return out
}

// clearBackoff forgets libp2p's dial backoff for p (5 s after a failed
// dial, growing to 5 min): the host's own loops pace their dials, and a
// peer that restarts on the port it had must be dialed when it is back,
// not minutes later.
func (x *Host) clearBackoff(p peer.ID) {
	if sw, ok := x.h.Network().(interface{ Backoff() *swarm.DialBackoff }); ok {
		sw.Backoff().Clear(p)
	}
}

// CheckListen checks that the fixed ports of listen addresses can be bound
// now: libp2p gives up on a host only when none of its addresses can be,
// and binds TCP with SO_REUSEPORT, so that a second process on a taken
// port would start and share it.
func CheckListen(listen []string) error {
	for _, a := range listen {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			continue
		}
		network, hostport, err := manet.DialArgs(m)
		if err != nil || strings.HasSuffix(hostport, ":0") {
			continue
		}
		switch {
		case strings.HasPrefix(network, "tcp"):
			l, err := net.Listen(network, hostport)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", a, err)
			}
			l.Close()
		case strings.HasPrefix(network, "udp"):
			c, err := net.ListenPacket(network, hostport)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", a, err)
			}
			c.Close()
		}
	}
	return nil
}

// directTimeout bounds a try to reach a relayed peer directly.
const directTimeout = 10 * time.Second

// tryDirect tries, once per relayed connection, to reach its peer at its
// direct addresses: two devices on one LAN, or one with a public address,
// need no relay (hole punching, DCUtR, covers two NATs; libp2p runs it only
// between public addresses).
func (x *Host) tryDirect(p peer.ID) {
	direct := slices.ContainsFunc(x.h.Peerstore().Addrs(p), func(a ma.Multiaddr) bool {
		_, err := a.ValueForProtocol(ma.P_CIRCUIT)
		return err != nil
	})
	x.mu.Lock()
	if !direct || x.closed || x.upgrading[p] || len(x.upgrading) >= maxRedials {
		x.mu.Unlock()
		return
	}
	x.upgrading[p] = true
	x.mu.Unlock()
	x.wg.Go(func() {
		defer func() {
			x.mu.Lock()
			delete(x.upgrading, p)
			x.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(x.ctx, directTimeout)
		defer cancel()
		if err := x.h.Connect(network.WithForceDirectDial(ctx, "berty-direct"), peer.AddrInfo{ID: p}); err != nil {
			x.log.Debug("no direct connection; the relay carries on", "peer", p, "err", err)
			return
		}
		x.log.Info("peer reached directly", "peer", p)
		x.observe(PeerDirect, p)
	})
}
