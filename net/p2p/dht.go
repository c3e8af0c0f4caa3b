package p2p

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

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
const RendezvousPeriod = 24 * time.Hour

// rendezvousGrace is how long before a period ends devices also announce
// the next value, and after it starts also look up the previous one, so
// clocks that disagree a little still meet.
const rendezvousGrace = time.Hour

// Rendezvous returns the DHT key where a group's devices meet during the
// period that contains t: HMAC-SHA256(replication key, "berty/v1/rendezvous"
// || period) as a raw CID. Only holders of the replication key (members,
// their mailboxes) can compute it, and it changes every period, so the DHT
// learns neither the group nor who stays in it over time.
func Rendezvous(replication [32]byte, t time.Time) cid.Cid {
	return rendezvousAt(replication, uint64(t.Unix())/uint64(RendezvousPeriod/time.Second))
}

func rendezvousAt(replication [32]byte, period uint64) cid.Cid {
	m := hmac.New(sha256.New, replication[:])
	m.Write([]byte("berty/v1/rendezvous\x00"))
	m.Write(binary.BigEndian.AppendUint64(nil, period))
	mh, err := multihash.Encode(m.Sum(nil), multihash.SHA2_256)
	if err != nil {
		panic("p2p: encode a sha2-256 multihash: " + err.Error())
	}
	return cid.NewCidV1(cid.Raw, mh)
}

// rendezvousKeys returns the values to announce and to look up at t.
func rendezvousKeys(replication [32]byte, t time.Time) (announce, lookup []cid.Cid) {
	secs := uint64(RendezvousPeriod / time.Second)
	now := uint64(t.Unix())
	p := now / secs
	announce = []cid.Cid{rendezvousAt(replication, p)}
	lookup = []cid.Cid{rendezvousAt(replication, p)}
	if (p+1)*secs-now <= uint64(rendezvousGrace/time.Second) {
		announce = append(announce, rendezvousAt(replication, p+1))
	}
	if now-p*secs <= uint64(rendezvousGrace/time.Second) && p > 0 {
		lookup = append(lookup, rendezvousAt(replication, p-1))
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
	d, err := dht.New(x.h, dht.Mode(dht.ModeServer), dht.ProtocolPrefix(DHTPrefix), dht.BootstrapPeers(boot...))
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

// meet announces and looks up a group's rendezvous on the DHT, connecting to
// the devices it finds, with backoff from 1 s up to the configured period.
func (x *Host) meet(t *topic) {
	wait := time.Second
	for {
		found := x.meetOnce(t)
		if found {
			wait = x.cfg.RendezvousEvery
		} else {
			wait = min(wait*2, x.cfg.RendezvousEvery)
		}
		select {
		case <-x.ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (x *Host) meetOnce(t *topic) (found bool) {
	ctx, cancel := context.WithTimeout(x.ctx, 30*time.Second)
	defer cancel()
	select { // nowhere to announce before the routing table has a peer
	case <-x.routable:
	case <-ctx.Done():
		return false
	}
	announce, lookup := rendezvousKeys(t.rep, x.cfg.Now())
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
