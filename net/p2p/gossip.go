package p2p

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"sync"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
)

// topicName is the gossipsub topic of a group's network: its network ID
// (§3.4), never the group's ID, and one per epoch: a device that does not
// hold the epoch cannot name the topic.
func topicName(network [32]byte) string { return "/berty/2/" + hex.EncodeToString(network[:]) }

// networkOfTopic is topicName's inverse.
func networkOfTopic(name string) (id [32]byte, ok bool) {
	h, found := strings.CutPrefix(name, "/berty/2/")
	if !found || len(h) != 64 {
		return id, false
	}
	if _, err := hex.Decode(id[:], []byte(h)); err != nil {
		return id, false
	}
	return id, true
}

// messageID names a pubsub message by the hash of its data: the same batch
// relayed by several peers is one message.
func messageID(m *pb.Message) string {
	h := sha256.Sum256(m.Data)
	return string(h[:])
}

// Join starts receiving a group (node.Transport), or moves it to other
// networks: one gossipsub topic per network key (an epoch's, §3.4), the
// first where this device publishes. Entries whose MAC does not verify
// under the replication key are rejected by the validator and not
// forwarded. Networks no longer listed are left.
func (x *Host) Join(topicID, replication [32]byte, networks [][32]byte) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed || len(networks) == 0 {
		return
	}
	t := x.topics[topicID]
	if t == nil {
		t = &topic{id: topicID, rep: replication}
		x.topics[topicID] = t
	}
	old := map[[32]byte]*groupNet{}
	for _, nw := range t.nets {
		old[nw.key] = nw
	}
	var nets []*groupNet
	for _, k := range networks {
		if slices.ContainsFunc(nets, func(nw *groupNet) bool { return nw.key == k }) {
			continue
		}
		if nw := old[k]; nw != nil {
			nets = append(nets, nw)
			delete(old, k)
			continue
		}
		if nw := x.subscribeLocked(t, k); nw != nil {
			nets = append(nets, nw)
		}
	}
	for _, nw := range old {
		x.leaveLocked(nw)
	}
	fresh := len(nets) > 0 && !slices.ContainsFunc(t.nets, func(nw *groupNet) bool { return nw == nets[0] })
	t.nets = nets
	if fresh {
		// The mailboxes learn the new network, and exchange what they hold.
		for _, ch := range x.mbox.wake {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		// Gossip tells directly connected peers of the new network, and a
		// peer in it answers by joining, which starts a sync. Peers reached
		// only through a relay hear nothing of it: ask them (§10.4).
		for _, p := range x.h.Network().Peers() {
			if x.limitedOnly(p) {
				x.startSyncLocked(p, topicID)
			}
		}
	}
}

// subscribeLocked joins one network of a group; x.mu is held.
func (x *Host) subscribeLocked(t *topic, key [32]byte) *groupNet {
	id := group.NetworkID(key)
	name := topicName(id)
	if err := x.ps.RegisterTopicValidator(name, x.validator(t.id, t.rep)); err != nil {
		x.log.Error("register validator", "err", err)
		return nil
	}
	pt, err := x.ps.Join(name)
	if err != nil {
		x.ps.UnregisterTopicValidator(name)
		x.log.Error("join topic", "err", err)
		return nil
	}
	sub, err := pt.Subscribe()
	if err != nil {
		pt.Close()
		x.ps.UnregisterTopicValidator(name)
		x.log.Error("subscribe", "err", err)
		return nil
	}
	ev, err := pt.EventHandler()
	if err != nil {
		sub.Cancel()
		pt.Close()
		x.ps.UnregisterTopicValidator(name)
		x.log.Error("topic events", "err", err)
		return nil
	}
	ctx, cancel := context.WithCancel(x.ctx)
	nw := &groupNet{group: t, key: key, id: id, name: name, t: pt, sub: sub, ev: ev, ctx: ctx, stop: cancel}
	x.nets[id] = nw
	x.wg.Go(func() { x.read(nw) })
	x.wg.Go(func() { x.watch(nw) })
	if x.dht != nil {
		x.wg.Go(func() { x.meet(nw) })
	}
	return nw
}

// leaveLocked leaves a network the group moved away from; x.mu is held.
func (x *Host) leaveLocked(nw *groupNet) {
	delete(x.nets, nw.id)
	nw.stop()
	nw.sub.Cancel()
	nw.ev.Cancel()
	if err := nw.t.Close(); err != nil {
		x.log.Debug("close topic", "err", err)
	}
	x.ps.UnregisterTopicValidator(nw.name)
}

// Publish sends this device's new entries of a group (node.Transport) on
// the group's first network, in as few pubsub messages as the size limits
// allow. Each message gets its own slice: gossipsub keeps what it is given.
func (x *Host) Publish(topicID [32]byte, raws [][]byte) {
	x.mu.Lock()
	t := x.topics[topicID]
	var pt *pubsub.Topic
	if t != nil && len(t.nets) > 0 {
		pt = t.nets[0].t
	}
	x.mu.Unlock()
	if pt == nil {
		return
	}
	for _, b := range splitBatches(raws) {
		if err := pt.Publish(x.ctx, encodeBatch(b)); err != nil && x.ctx.Err() == nil {
			// Not fatal: the entries are stored, sync delivers them.
			x.log.Warn("publish failed; peers will get the entries by sync", "err", err)
		}
	}
	x.pushRelayed(topicID)
	x.pushMailboxes(topicID, raws)
	x.nudge(topicID)
}

// validator accepts a pubsub message only if it is a well-formed batch of
// distinct entries of this group whose MACs verify (§10.1), and only if one
// of them is new to this host: a batch made of entries seen before (a
// replay, re-packed so that pubsub's own message IDs differ) is ignored —
// neither delivered nor forwarded — so that a peer holding recorded
// entries cannot make the mesh carry them again and again. It runs for
// every message before it is delivered or forwarded.
func (x *Host) validator(topicID, replication [32]byte) pubsub.ValidatorEx {
	return func(_ context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
		if from == x.h.ID() {
			return pubsub.ValidationAccept
		}
		raws, err := decodeBatch(m.Data)
		if err != nil {
			x.observe(GossipRefused, from)
			return pubsub.ValidationReject
		}
		sums := make([][32]byte, 0, len(raws))
		in := make(map[feed.ID]bool, len(raws)) // an honest batch never repeats an entry
		for _, raw := range raws {
			e, err := feed.Decode(raw)
			if err != nil || e.Topic != topicID || e.VerifyMAC(&replication) != nil || in[e.ID] {
				x.observe(GossipRefused, from)
				return pubsub.ValidationReject
			}
			in[e.ID] = true
			// Remembered by the hash of all its bytes, not by its ID, which
			// does not cover the signature: a copy with a spoiled signature,
			// seen first, must not make the genuine entry look seen.
			sums = append(sums, sha256.Sum256(raw))
		}
		if !x.seen.add(sums) {
			return pubsub.ValidationIgnore
		}
		return pubsub.ValidationAccept
	}
}

// seenEntries remembers the last maxSeenEntries entries that gossip
// brought, oldest forgotten first: by the first 16 bytes of the SHA-256 of
// their encoding (finding two that share them takes 2^64 work), about
// 1.5 MiB when full.
type seenEntries struct {
	mu   sync.Mutex
	ids  map[[16]byte]struct{}
	ring [][16]byte
	next int
}

const maxSeenEntries = 1 << 15

// add remembers entries by their hashes and reports whether one was new.
func (s *seenEntries) add(sums [][32]byte) (fresh bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = map[[16]byte]struct{}{}
	}
	for _, sum := range sums {
		id := [16]byte(sum[:16])
		if _, ok := s.ids[id]; ok {
			continue
		}
		fresh = true
		if len(s.ring) < maxSeenEntries {
			s.ring = append(s.ring, id)
		} else {
			delete(s.ids, s.ring[s.next])
			s.ring[s.next] = id
			s.next = (s.next + 1) % maxSeenEntries
		}
		s.ids[id] = struct{}{}
	}
	return fresh
}

// read takes a network's messages to the ingest loop.
func (x *Host) read(nw *groupNet) {
	t := nw.group
	for {
		m, err := nw.sub.Next(nw.ctx)
		if err != nil {
			return // cancelled
		}
		if m.ReceivedFrom == x.h.ID() {
			continue // our own publication, already stored
		}
		raws, err := decodeBatch(m.Data)
		if err != nil {
			continue // the validator let nothing malformed through
		}
		x.gossipIn.Add(int64(len(raws)))
		select {
		case x.in <- inbound{topic: t.id, raws: raws, from: m.ReceivedFrom}:
		case <-nw.ctx.Done():
			return
		}
	}
}

// watch syncs with every peer that joins a network of a group: what it
// missed and what we missed are exchanged at once, without waiting for new
// traffic.
func (x *Host) watch(nw *groupNet) {
	for {
		ev, err := nw.ev.NextPeerEvent(nw.ctx)
		if err != nil {
			return
		}
		if ev.Type == pubsub.PeerJoin {
			// Anyone may subscribe to a name it saw: the sync proves
			// whether it holds the network's key (and protects its
			// connection if so).
			x.startSync(ev.Peer, nw.group.id)
		}
	}
}

// maxIngest bounds the entries handed to the node in one Deliver (one
// commit): large enough to amortise fsync, small enough to keep latency low.
const maxIngest = 1024

// ingest batches what gossip and sync bring and delivers it, one commit per
// batch: it takes everything already queued (up to maxIngest entries per
// topic) before calling Deliver.
func (x *Host) ingest() {
	for {
		var first inbound
		select {
		case first = <-x.in:
		case <-x.ctx.Done():
			return
		}
		batch := map[[32]byte][][]byte{}
		from := map[[32]byte]map[peer.ID]bool{}
		synced := map[[32]byte]bool{}
		var order [][32]byte
		add := func(m inbound) {
			if batch[m.topic] == nil {
				order = append(order, m.topic)
				from[m.topic] = map[peer.ID]bool{}
			}
			batch[m.topic] = append(batch[m.topic], m.raws...)
			from[m.topic][m.from] = true
			synced[m.topic] = synced[m.topic] || m.viaSync
		}
		add(first)
		n := len(first.raws)
	more:
		for n < maxIngest {
			select {
			case m := <-x.in:
				add(m)
				n += len(m.raws)
			default:
				break more
			}
		}
		deliver, _ := x.attached()
		for _, t := range order {
			res, err := deliver(t, batch[t])
			if err != nil {
				x.log.Error("deliver", "err", err)
				continue
			}
			if res.Waiting {
				for p := range from[t] {
					x.startSync(p, t)
				}
			}
			if res.Appended > 0 && synced[t] {
				x.nudge(t)
			}
		}
	}
}
