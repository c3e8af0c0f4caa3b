package p2p

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/berty-go/berty/core/rendezvous"
	"github.com/ipfs/go-cid"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multihash"
)

// DHTPrefix is the protocol prefix of Berty's Kademlia DHT: a private DHT,
// not the public IPFS one.
const DHTPrefix = protocol.ID("/berty")

// RendezvousPeriod is how long one rendezvous value is used (§10.3).
const RendezvousPeriod = rendezvous.Period * time.Second

// Rendezvous returns the DHT key where a group's devices meet during the
// period that contains t: the group's rendezvous point (package
// core/rendezvous, keyed by the replication key) as a raw CID. Only holders
// of the replication key (members, their mailboxes) can compute it, and it
// changes every period, so the DHT learns neither the group nor who stays in
// it over time.
func Rendezvous(replication [32]byte, t time.Time) cid.Cid {
	return pointCID(rendezvous.At(replication[:], rendezvous.LabelGroup, uint64(t.Unix())/rendezvous.Period))
}

// pointCID is the DHT key of a rendezvous point.
func pointCID(p rendezvous.Point) cid.Cid {
	mh, err := multihash.Encode(p[:], multihash.SHA2_256)
	if err != nil {
		panic("p2p: encode a sha2-256 multihash: " + err.Error())
	}
	return cid.NewCidV1(cid.Raw, mh)
}

// rendezvousKeys returns the group's DHT keys to announce and to look up at t.
func rendezvousKeys(replication [32]byte, t time.Time) (announce, lookup []cid.Cid) {
	a, l := rendezvous.Current(replication[:], rendezvous.LabelGroup, uint64(t.Unix()))
	for _, p := range a {
		announce = append(announce, pointCID(p))
	}
	for _, p := range l {
		lookup = append(lookup, pointCID(p))
	}
	return announce, lookup
}

func (x *Host) startDHT() error {
	var boot []peer.AddrInfo
	for _, b := range x.cfg.Bootstrap {
		ai, err := peer.AddrInfoFromString(b)
		if err != nil {
			return fmt.Errorf("bootstrap peer %q: %w (want a multiaddr ending in /p2p/ID)", b, err)
		}
		boot = append(boot, *ai)
	}
	// A device behind a NAT cannot answer DHT queries: with NAT on, it is a
	// DHT server only while AutoNAT finds it reachable (a relayed device is
	// a client: it still announces and looks up).
	mode := dht.ModeServer
	if x.cfg.NAT {
		mode = dht.ModeAuto
	}
	d, err := dht.New(x.h, dht.Mode(mode), dht.ProtocolPrefix(DHTPrefix), dht.BootstrapPeers(boot...))
	if err != nil {
		return fmt.Errorf("start the DHT: %w", err)
	}
	x.dht = d
	// Know when the routing table first has a peer: announcing before that
	// has nowhere to go. The hook is wrapped before any peer is dialed.
	x.routable = make(chan struct{})
	var once sync.Once
	rt := d.RoutingTable()
	added := rt.PeerAdded
	rt.PeerAdded = func(p peer.ID) {
		added(p)
		once.Do(func() { close(x.routable) })
	}
	ctx, cancel := context.WithTimeout(x.ctx, 10*time.Second)
	defer cancel()
	for _, ai := range boot {
		if err := x.h.Connect(ctx, ai); err != nil {
			x.log.Warn("dht: bootstrap peer unreachable for now; will keep trying", "peer", ai.ID, "err", err)
		}
		x.wg.Go(func() { x.keepDialing(ai) })
	}
	return d.Bootstrap(x.ctx)
}

// meet announces and looks up the rendezvous of a group's network on the DHT, connecting to
// the devices it finds, with backoff from 1 s up to the configured period.
func (x *Host) meet(nw *groupNet) {
	wait := time.Second
	for {
		found := x.meetOnce(nw)
		if found {
			wait = x.cfg.RendezvousEvery
		} else {
			wait = min(wait*2, x.cfg.RendezvousEvery)
		}
		select {
		case <-nw.ctx.Done():
			return
		case <-time.After(wait):
		case <-x.addrsWake(): // announce the new addresses now
		}
	}
}

func (x *Host) meetOnce(nw *groupNet) (found bool) {
	ctx, cancel := context.WithTimeout(nw.ctx, 30*time.Second)
	defer cancel()
	select { // nowhere to announce before the routing table has a peer
	case <-x.routable:
	case <-ctx.Done():
		return false
	}
	announce, lookup := rendezvousKeys(nw.key, x.cfg.Now())
	for _, k := range announce {
		if err := x.dht.Provide(ctx, k, true); err != nil {
			x.log.Debug("dht: provide failed", "err", err)
		}
	}
	for _, k := range lookup {
		for ai := range x.dht.FindProvidersAsync(ctx, k, 20) {
			if ai.ID == x.h.ID() || len(ai.Addrs) == 0 {
				continue
			}
			found = true
			if x.h.Network().Connectedness(ai.ID) == network.Connected {
				continue
			}
			if err := x.h.Connect(ctx, ai); err != nil {
				x.log.Debug("dht: connect to a group peer failed", "peer", ai.ID, "err", err)
			}
		}
	}
	return found
}
