package p2p

import (
	"bufio"
	"container/heap"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/replica"
)

// ProtocolSync is the sync protocol's libp2p protocol ID (§10.2).
const ProtocolSync = protocol.ID("/berty/sync/3.0.0")

const (
	syncTimeout = time.Minute
	maxVector   = 10 + MaxVectorDevices*(32+10)
	// syncChunk is how many entries of one feed the responder reads from
	// storage at a time.
	syncChunk = 256
)

// proof shows that a sync requester holds a network key of the group (an
// epoch's), bound to both peers so it cannot be replayed to another (§10.2).
func proof(network [32]byte, requester, responder peer.ID) [32]byte {
	return mac(network, "berty/v2/sync-proof", requester, responder)
}

// answerProof is the responder's: it holds the key too. Only then does
// either side name its device.
func answerProof(network [32]byte, requester, responder peer.ID) [32]byte {
	return mac(network, "berty/v2/sync-answer", requester, responder)
}

func mac(key [32]byte, label string, requester, responder peer.ID) [32]byte {
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte(label))
	m.Write([]byte{0})
	m.Write([]byte(requester))
	m.Write([]byte{0})
	m.Write([]byte(responder))
	var out [32]byte
	copy(out[:], m.Sum(nil))
	return out
}

func writeFrame(w io.Writer, b []byte) error {
	var n [binary.MaxVarintLen64]byte
	if _, err := w.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

var errFrameTooLarge = errors.New("frame too large")

func readFrame(r *bufio.Reader, max int) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", errFrameTooLarge, n, max)
	}
	b := make([]byte, n)
	_, err = io.ReadFull(r, b)
	return b, err
}

// startSync runs one sync of a topic with a peer, unless one is running.
func (x *Host) startSync(p peer.ID, topicID [32]byte) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.startSyncLocked(p, topicID)
}

// syncAllLocked syncs a topic with all its peers; x.mu is held.
func (x *Host) syncAllLocked(topicID [32]byte) {
	if t := x.topics[topicID]; t != nil {
		for _, p := range x.peersOf(t) {
			x.startSyncLocked(p, topicID)
		}
	}
}

// Sync states per (peer, topic).
const (
	syncRunning = 1 // a sync is in flight
	syncAgain   = 2 // ... and another was asked for meanwhile: run it after
)

func (x *Host) startSyncLocked(p peer.ID, topicID [32]byte) {
	k := syncKey{p, topicID}
	if x.closed || !x.serving || x.topics[topicID] == nil {
		return
	}
	if x.syncing[k] != 0 {
		// What is asked now may be newer than what the running sync
		// carries: run once more when it ends, so nothing stays behind.
		x.syncing[k] = syncAgain
		return
	}
	x.syncing[k] = syncRunning
	x.wg.Go(func() {
		backoff := time.Second
		for {
			err := x.syncWith(p, topicID)
			if err != nil && x.ctx.Err() == nil {
				x.syncErrors.Add(1)
				x.log.Debug("sync failed", "peer", p, "err", err)
			}
			x.mu.Lock()
			again := x.syncing[k] == syncAgain && !x.closed
			// A failed sync is tried again, with backoff, while the peer is
			// still in the group: what it was to bring must not wait for
			// the next periodic sync.
			retry := err != nil && !x.closed && backoff <= 4*time.Second && x.inTopicLocked(p, topicID)
			if again || retry {
				x.syncing[k] = syncRunning
			} else {
				delete(x.syncing, k)
			}
			x.mu.Unlock()
			switch {
			case again:
			case retry:
				select {
				case <-x.ctx.Done():
					x.mu.Lock()
					delete(x.syncing, k)
					x.mu.Unlock()
					return
				case <-time.After(backoff):
				}
				backoff *= 2
			default:
				return
			}
		}
	})
}

// inTopicLocked reports whether p is a peer of the topic; x.mu is held.
func (x *Host) inTopicLocked(p peer.ID, topicID [32]byte) bool {
	t := x.topics[topicID]
	return t != nil && slices.Contains(x.peersOf(t), p)
}

// nudgeDelay is how long after publishing a host syncs with the topic's
// peers, in case gossip did not reach them (a peer whose subscription it did
// not know yet). Publishes within the delay share one nudge. It is a safety
// net, not the delivery path: shorter, and under load every nudge would
// fetch again what gossip is still delivering (measured: the duplicates'
// storage lookups were 22 % of a 5-member group's CPU).
const nudgeDelay = 500 * time.Millisecond

// pullBackDelay is how long a responder that saw the requester ahead waits
// before pulling: what the requester has extra is usually on its way by
// gossip, and a sync run later fetches only what is really missing.
const pullBackDelay = 250 * time.Millisecond

// nudge schedules a sync of a topic with its peers. Sync is two-way: a
// peer that lacks what we published pulls it from us (§10.2).
func (x *Host) nudge(topicID [32]byte) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed || x.nudges[topicID] != nil {
		return
	}
	x.nudges[topicID] = time.AfterFunc(nudgeDelay, func() {
		x.mu.Lock()
		defer x.mu.Unlock()
		delete(x.nudges, topicID)
		x.syncAllLocked(topicID)
	})
}

// SyncNow syncs a group with every peer in its topic at once.
func (x *Host) SyncNow(topicID [32]byte) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.syncAllLocked(topicID)
}

func (x *Host) periodicSync() {
	tick := time.NewTicker(x.cfg.SyncInterval)
	defer tick.Stop()
	for {
		select {
		case <-x.ctx.Done():
			return
		case <-tick.C:
		}
		x.mu.Lock()
		ids := make([][32]byte, 0, len(x.topics))
		for id := range x.topics {
			ids = append(ids, id)
		}
		x.mu.Unlock()
		for _, id := range ids {
			x.SyncNow(id)
		}
	}
}

// syncWith asks p for what it has of a group beyond our version vector and
// hands what comes to the ingest loop (§10.2). It tries the group's networks
// in turn — the current epoch's first — until p answers under one.
func (x *Host) syncWith(p peer.ID, topicID [32]byte) error {
	x.mu.Lock()
	t, src := x.topics[topicID], x.source
	var nets []*groupNet
	if t != nil {
		nets = slices.Clone(t.nets)
	}
	x.mu.Unlock()
	for _, nw := range nets {
		answered, err := x.syncUnder(p, t, nw, src)
		if answered || err != nil {
			return err
		}
	}
	return nil
}

var errNotAdmitted = errors.New("the peer's device does not count in the group")

// syncUnder runs one sync of a group with p under one of its networks. It
// reports whether p answered there (proved it holds the key).
func (x *Host) syncUnder(p peer.ID, t *topic, nw *groupNet, src Source) (answered bool, err error) {
	ctx, cancel := context.WithTimeout(x.ctx, syncTimeout)
	defer cancel()
	// A relayed (limited) connection carries syncs too: gossip does not
	// use it, so sync is how entries cross it (§10.4).
	s, err := x.h.NewStream(network.WithAllowLimitedConn(ctx, "berty-sync"), p, ProtocolSync)
	if err != nil {
		return false, err
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(syncTimeout))
	self := x.h.ID()
	if err := writeFrame(s, encodeSyncHead(nw.id, proof(nw.key, self, p))); err != nil {
		return false, err
	}
	br := bufio.NewReader(s)
	b, err := readFrame(br, answerSize)
	if err != nil {
		s.Reset()
		return false, err
	}
	if len(b) == 0 {
		return false, nil // not in this network (or not serving yet): nothing to get
	}
	got, peerDev, err := decodeAnswer(b)
	want := answerProof(nw.key, self, p)
	if err != nil || !hmac.Equal(got[:], want[:]) ||
		!x.sigs.verify(peerDev, statement(roleResponder, self, p, nw.id)) {
		s.Reset()
		return true, fmt.Errorf("the peer did not prove it is in the group")
	}
	if x.setProven(p, nw.id) { // it holds the network's key (§10.1)
		// Gossip reaches it from now on; what was published before it
		// proved (no mesh yet) comes by one more sync.
		x.syncLater(p, t.id, nudgeDelay)
	}
	status, until, newcomer, err := src.Peer(t.id, peerDev.Device)
	if err != nil {
		s.Reset()
		return true, err
	}
	var flags byte
	if status == replica.PeerCut {
		x.observe(SyncRefused, p)
		if until == 0 || !x.mayAskPull(p, t.id) {
			s.Reset()
			return true, errNotAdmitted
		}
		// A removed or revoked device: this device takes nothing from it,
		// and asks it to sync from here instead, where it is served up to
		// the event that cut it — how it learns that it is out. At most
		// once per pullEvery per peer and group: two devices that cut each
		// other (concurrent revocations) would otherwise ask each other to
		// pull for ever.
		flags = helloPull
	}
	// The vector tells how much each device wrote: only for a device that
	// counts here. To one this device cannot place yet, it says nothing,
	// and takes what comes (every entry is checked on arrival). A
	// newcomer's vector is hardly more than its own feed.
	var vec map[keys.Public]uint64
	if status == replica.PeerMember || (newcomer && status != replica.PeerCut) {
		if vec, err = src.Vector(t.id); err != nil {
			s.Reset()
			return true, err
		}
	}
	dev, sig, err := x.sigs.sign(src, t.id, statement(roleRequester, self, p, nw.id))
	if err != nil {
		s.Reset()
		return true, err
	}
	me := signedDevice{Device: dev}
	copy(me.Sig[:], sig)
	if newcomer {
		flags |= helloNewcomer
	}
	if err := writeFrame(s, encodeHello(me, flags, vec)); err != nil {
		return true, err
	}
	for shown := false; ; shown = true {
		v, err := readFrame(br, 1)
		if err != nil || len(v) != 1 || v[0] > verdictShow || (shown && v[0] == verdictShow) {
			s.Reset()
			return true, fmt.Errorf("bad sync verdict")
		}
		if v[0] == verdictRefused {
			return true, nil
		}
		if v[0] == verdictServing {
			break
		}
		// The peer does not know this device: show it the announce.
		ann, err := src.Announce(t.id)
		if err != nil {
			s.Reset()
			return true, err
		}
		if err := writeFrame(s, ann); err != nil {
			return true, err
		}
	}
	s.CloseWrite()
	for {
		b, err := readFrame(br, MaxFrame)
		if err != nil {
			s.Reset()
			return true, err
		}
		if len(b) == 0 {
			return true, nil
		}
		raws, err := decodeBatch(b)
		if err != nil {
			s.Reset()
			return true, err
		}
		for _, raw := range raws {
			e, err := feed.Decode(raw)
			if err != nil || e.Topic != t.id || e.VerifyMAC(&t.rep) != nil {
				s.Reset()
				return true, fmt.Errorf("peer sent an invalid entry on sync")
			}
		}
		x.syncFetched.Add(int64(len(raws)))
		select {
		case x.in <- inbound{topic: t.id, raws: raws, from: p, viaSync: true}:
		case <-ctx.Done():
			s.Reset()
			return true, ctx.Err()
		}
	}
}

// serveSync answers a sync request (§10.2): after both ends proved they
// hold the network's key and named their devices, every entry we have
// beyond the requester's vector — for a device that counts in the group —
// merged across feeds by Lamport clock so that dependencies mostly come
// before what depends on them, in frames of at most syncChunk entries,
// then an empty frame.
func (x *Host) serveSync(s network.Stream) {
	defer s.Close()
	remote, self := s.Conn().RemotePeer(), x.h.ID()
	if !x.takeServeSlot(remote) {
		// A peer that holds this many syncs open at once wants to stall
		// us, not to sync: an honest one runs one per group at a time.
		x.observe(SyncRefused, remote)
		s.Reset()
		return
	}
	defer x.releaseServeSlot(remote)
	s.SetDeadline(time.Now().Add(syncTimeout))
	br := bufio.NewReader(s)
	// The version, network and proof come first, in a frame of their own:
	// a peer outside the group costs 65 bytes, and gets the same answer as
	// for a network this host is not in (nothing says which groups it is
	// in).
	head, err := readFrame(br, syncHeadSize)
	var netID, got [32]byte
	if err == nil {
		netID, got, err = decodeSyncHead(head)
	}
	if err != nil {
		x.observe(SyncRefused, remote)
		s.Reset()
		return
	}
	x.mu.Lock()
	nw, src, deliver := x.nets[netID], x.source, x.deliver
	x.mu.Unlock()
	if nw == nil || src == nil {
		writeFrame(s, nil) // not a network of ours (or not serving yet): nothing to say
		return
	}
	t := nw.group
	if want := proof(nw.key, remote, self); !hmac.Equal(want[:], got[:]) {
		x.observe(SyncRefused, remote)
		writeFrame(s, nil)
		return
	}
	if x.setProven(remote, netID) { // it holds the network's key (§10.1)
		x.syncLater(remote, t.id, nudgeDelay)
	}
	dev, sig, err := x.sigs.sign(src, t.id, statement(roleResponder, remote, self, netID))
	if err != nil {
		writeFrame(s, nil)
		return
	}
	me := signedDevice{Device: dev}
	copy(me.Sig[:], sig)
	if err := writeFrame(s, encodeAnswer(answerProof(nw.key, remote, self), me)); err != nil {
		s.Reset()
		return
	}
	b, err := readFrame(br, maxHello)
	var them signedDevice
	var flags byte
	var vector map[keys.Public]uint64
	if err == nil {
		them, flags, vector, err = decodeHello(b)
	}
	if err == nil && !x.sigs.verify(them, statement(roleRequester, remote, self, netID)) {
		err = errors.New("bad device signature")
	}
	if err != nil {
		x.observe(SyncRefused, remote)
		s.Reset()
		return
	}
	status, until, newcomer, err := src.Peer(t.id, them.Device)
	if err != nil {
		s.Reset()
		return
	}
	if flags&helloPull != 0 && status != replica.PeerCut {
		// Asked to pull by a device that has something for us it may give
		// only as a responder (our own removal, maybe). A cut requester's
		// ask is not taken: it is served up to its cut below instead, so
		// that two devices that cut each other both learn it, and do not
		// ask each other to pull for ever.
		writeFrame(s, []byte{verdictRefused})
		x.syncLater(remote, t.id, 0)
		return
	}
	if status == replica.PeerUnknown {
		// Maybe a device whose announce has not reached us (a new member,
		// a contact's device): it shows it, and it counts or not.
		if err := writeFrame(s, []byte{verdictShow}); err != nil {
			s.Reset()
			return
		}
		ann, err := readFrame(br, feed.MaxEntrySize)
		if err != nil {
			x.observe(SyncRefused, remote)
			s.Reset()
			return
		}
		if e, derr := feed.Decode(ann); derr == nil && e.Topic == t.id && e.Author == them.Device && e.Seq == 1 && e.VerifyMAC(&t.rep) == nil {
			if _, err := deliver(t.id, [][]byte{ann}); err != nil {
				s.Reset()
				return
			}
			if status, until, _, err = src.Peer(t.id, them.Device); err != nil {
				s.Reset()
				return
			}
		}
	}
	if status == replica.PeerCut && until > 0 {
		// A removed member or a revoked device is served what sorts up to
		// the event that cut it — so that it learns it is out — and
		// nothing written after.
		x.observe(SyncCut, remote)
	} else if status != replica.PeerMember {
		x.observe(SyncRefused, remote)
		writeFrame(s, []byte{verdictRefused})
		if newcomer && status == replica.PeerUnknown && flags&helloNewcomer == 0 {
			// This device cannot place the requester, which counts in its
			// own view: maybe a member that has just let this device in
			// (approved it, handed it keys). Ask it instead — as a
			// requester this device is judged, not judging. Two newcomers
			// never pull from each other, so this never ping-pongs.
			x.syncLater(remote, t.id, pullBackDelay)
		}
		return
	}
	if err := writeFrame(s, []byte{verdictServing}); err != nil {
		s.Reset()
		return
	}
	local, err := src.Vector(t.id)
	if err != nil {
		s.Reset()
		return
	}
	bw := bufio.NewWriterSize(s, 64<<10)
	m := &merger{src: src, topic: t.id, until: until}
	for d, have := range local {
		if after := vector[d]; have > after {
			m.add(d, after, have)
		}
	}
	for {
		raws, err := m.next(syncChunk)
		if err != nil {
			s.Reset()
			return
		}
		if len(raws) == 0 {
			break
		}
		if err := writeFrame(bw, encodeBatch(raws)); err != nil {
			s.Reset()
			return
		}
		x.syncServed.Add(int64(len(raws)))
	}
	writeFrame(bw, nil)
	bw.Flush()
	// Sync is two-way: if the requester has entries we lack (it wrote
	// while we did not know it was in the topic), fetch them now rather
	// than at the next write or tick.
	for d, theirs := range vector {
		if status != replica.PeerMember {
			break
		}
		if theirs > local[d] {
			// Over a relayed connection only, gossip is not on its way:
			// pull at once.
			delay := pullBackDelay
			if x.limitedOnly(remote) {
				delay = 0
			}
			x.syncLater(remote, t.id, delay)
			break
		}
	}
}

// maxServesPerPeer bounds the syncs one peer is served at once (§10.2): an
// honest peer runs one per group at a time.
const maxServesPerPeer = 64

func (x *Host) takeServeSlot(p peer.ID) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.serves[p] >= maxServesPerPeer {
		return false
	}
	x.serves[p]++
	return true
}

func (x *Host) releaseServeSlot(p peer.ID) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.serves[p]--; x.serves[p] <= 0 {
		delete(x.serves, p)
	}
}

// pullEvery is how often a host asks the same cut peer to pull (§10.2).
const pullEvery = 10 * time.Second

// mayAskPull reports whether this host may ask p to pull the group now, and
// if so notes that it did.
func (x *Host) mayAskPull(p peer.ID, topicID [32]byte) bool {
	k := syncKey{p, topicID}
	now := time.Now()
	x.mu.Lock()
	defer x.mu.Unlock()
	if last, ok := x.pulls[k]; ok && now.Sub(last) < pullEvery {
		return false
	}
	if len(x.pulls) >= 4096 {
		clear(x.pulls)
	}
	x.pulls[k] = now
	return true
}

// syncLater syncs a topic with a peer after a delay; asks made meanwhile
// share the one sync.
func (x *Host) syncLater(p peer.ID, topicID [32]byte, d time.Duration) {
	k := syncKey{p, topicID}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed || x.later[k] != nil {
		return
	}
	x.later[k] = time.AfterFunc(d, func() {
		x.mu.Lock()
		defer x.mu.Unlock()
		delete(x.later, k)
		x.startSyncLocked(p, topicID)
	})
}

// EntriesSource is what a merger reads: a store's feeds (a device's
// node, a mailbox), by seq.
type EntriesSource interface {
	EntriesAfter(topic [32]byte, device keys.Public, after uint64, limit int) ([][]byte, error)
}

// merger reads several feeds from storage a chunk at a time and yields their
// entries in Lamport order.
type merger struct {
	src   EntriesSource
	topic [32]byte
	until uint64 // if not 0, no entry with a later clock
	chunk int    // entries read from a feed at a time (0: syncChunk)
	h     cursorHeap
}

// Merger yields the entries of several feeds in Lamport order, so that
// what an entry depends on mostly comes first (the mailbox serves with it,
// §10.5); it reads chunk entries of a feed at a time.
type Merger struct{ m merger }

// NewMerger merges the feeds of topic in src.
func NewMerger(src EntriesSource, topic [32]byte, chunk int) *Merger {
	return &Merger{merger{src: src, topic: topic, chunk: chunk}}
}

// Add adds a device's feed from after (exclusive).
func (m *Merger) Add(device keys.Public, after uint64) { m.m.add(device, after, feed.MaxSeq) }

// Next returns up to n more entries (none: the end).
func (m *Merger) Next(n int) ([][]byte, error) { return m.m.next(n) }

type cursor struct {
	open    bool // the last entry taken is unsigned: its batch goes on
	dev     keys.Public
	after   uint64 // last seq read from storage
	until   uint64
	buf     []*feed.Entry
	lamport uint64 // of buf[0]
}

func (m *merger) add(dev keys.Public, after, until uint64) {
	c := &cursor{dev: dev, after: after, until: until}
	if m.fill(c) == nil && len(c.buf) > 0 {
		heap.Push(&m.h, c)
	}
}

func (m *merger) fill(c *cursor) error {
	if c.after >= c.until {
		return nil
	}
	chunk := m.chunk
	if chunk == 0 {
		chunk = syncChunk
	}
	raws, err := m.src.EntriesAfter(m.topic, c.dev, c.after, chunk)
	if err != nil {
		return err
	}
	for _, r := range raws {
		e, err := feed.Decode(r)
		if err != nil {
			return err
		}
		if m.until > 0 && e.Lamport > m.until && !c.open {
			c.until = c.after // a feed's clocks only grow: the rest is later still
			break
		}
		c.buf = append(c.buf, e)
		c.after = e.Seq // a mailbox's feeds may have gaps
		// Past the limit, the batch that crossed it is finished — up to its
		// signed entry, which authenticates the ones before it (§4.5) — or
		// they could never be appended.
		c.open = !e.Signed
	}
	if len(c.buf) > 0 {
		c.lamport = c.buf[0].Lamport
	}
	return nil
}

func (m *merger) next(n int) ([][]byte, error) {
	var out [][]byte
	for len(out) < n && m.h.Len() > 0 {
		c := m.h[0]
		out = append(out, c.buf[0].Encoded)
		c.buf = c.buf[1:]
		if len(c.buf) == 0 {
			if err := m.fill(c); err != nil {
				return nil, err
			}
		}
		if len(c.buf) == 0 {
			heap.Pop(&m.h)
			continue
		}
		c.lamport = c.buf[0].Lamport
		heap.Fix(&m.h, 0)
	}
	return out, nil
}

type cursorHeap []*cursor

func (h cursorHeap) Len() int           { return len(h) }
func (h cursorHeap) Less(i, j int) bool { return h[i].lamport < h[j].lamport }
func (h cursorHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *cursorHeap) Push(x any)        { *h = append(*h, x.(*cursor)) }
func (h *cursorHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	*h = old[:len(old)-1]
	return c
}

// syncSigs remembers the sync statements this host signed (by group,
// signing key and statement) and the signatures it verified. A statement
// names both peers, a role and a network, so the same two peers sign the
// same statements sync after sync
// (Ed25519 signatures are deterministic: the same bytes every time), and
// syncs run after every write: without it each would cost two signatures
// and two verifications. At most maxSyncSigs of each, then it starts over.
type syncSigs struct {
	mu       sync.Mutex
	signed   map[[32]byte]signedDevice // by SHA-256 of topic || statement
	verified map[[32]byte]bool         // by SHA-256 of device || sig || statement
}

const maxSyncSigs = 4096

func (c *syncSigs) sign(src Source, topic [32]byte, st []byte) (keys.Public, []byte, error) {
	// By the signing key too: after a rejoin the same two peers sign the
	// same statement with the device's new key.
	dev, err := src.DeviceKeyIn(topic)
	if err != nil {
		return keys.Public{}, nil, err
	}
	h := sha256.New()
	h.Write(topic[:])
	h.Write(dev[:])
	h.Write(st)
	k := [32]byte(h.Sum(nil))
	c.mu.Lock()
	d, ok := c.signed[k]
	c.mu.Unlock()
	if ok {
		return d.Device, d.Sig[:], nil
	}
	dev, sig, err := src.SignSync(topic, st)
	if err != nil || len(sig) != 64 {
		return dev, sig, err
	}
	d = signedDevice{Device: dev, Sig: [64]byte(sig)}
	c.mu.Lock()
	if c.signed == nil || len(c.signed) >= maxSyncSigs {
		c.signed = map[[32]byte]signedDevice{}
	}
	c.signed[k] = d
	c.mu.Unlock()
	return dev, sig, nil
}

func (c *syncSigs) verify(d signedDevice, st []byte) bool {
	h := sha256.New()
	h.Write(d.Device[:])
	h.Write(d.Sig[:])
	h.Write(st)
	k := [32]byte(h.Sum(nil))
	c.mu.Lock()
	ok := c.verified[k]
	c.mu.Unlock()
	if ok {
		return true
	}
	if !replica.VerifySync(d.Device, st, d.Sig[:]) {
		return false
	}
	c.mu.Lock()
	if c.verified == nil || len(c.verified) >= maxSyncSigs {
		c.verified = map[[32]byte]bool{}
	}
	c.verified[k] = true
	c.mu.Unlock()
	return true
}
