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
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
)

// ProtocolSync is the sync protocol's libp2p protocol ID (§10.2).
const ProtocolSync = protocol.ID("/berty/sync/2.0.0")

const (
	syncTimeout = time.Minute
	maxVector   = 10 + MaxVectorDevices*(32+10)
	// syncChunk is how many entries of one feed the responder reads from
	// storage at a time.
	syncChunk = 256
)

// proof shows that a sync requester holds the group's replication key,
// bound to both peers so it cannot be replayed to another (§10.2).
func proof(replication [32]byte, requester, responder peer.ID) [32]byte {
	return mac(replication, "berty/v1/sync-proof", requester, responder)
}

// answerProof is the responder's: it holds the key too. Only then does the
// requester send its version vector, which tells how much each device of
// the group wrote: nothing for a peer that only saw the topic's name.
func answerProof(replication [32]byte, requester, responder peer.ID) [32]byte {
	return mac(replication, "berty/v1/sync-answer", requester, responder)
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
		for _, p := range t.t.ListPeers() {
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
	return t != nil && slices.Contains(t.t.ListPeers(), p)
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
// hands what comes to the ingest loop (§10.2).
func (x *Host) syncWith(p peer.ID, topicID [32]byte) error {
	x.mu.Lock()
	t, src := x.topics[topicID], x.source
	x.mu.Unlock()
	ctx, cancel := context.WithTimeout(x.ctx, syncTimeout)
	defer cancel()
	vec, err := src.Vector(topicID)
	if err != nil {
		return err
	}
	s, err := x.h.NewStream(ctx, p, ProtocolSync)
	if err != nil {
		return err
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(syncTimeout))
	if err := writeFrame(s, encodeSyncHead(topicID, proof(t.rep, x.h.ID(), p))); err != nil {
		return err
	}
	br := bufio.NewReader(s)
	answer, err := readFrame(br, 32)
	switch {
	case err != nil:
		s.Reset()
		return err
	case len(answer) == 0:
		return nil // not in the group (or not serving yet): nothing to get
	case len(answer) != 32 || !hmac.Equal(answer, func() []byte { a := answerProof(t.rep, x.h.ID(), p); return a[:] }()):
		s.Reset()
		return fmt.Errorf("the peer did not prove it is in the group")
	}
	if err := writeFrame(s, encodeVector(vec)); err != nil {
		return err
	}
	s.CloseWrite()
	for {
		b, err := readFrame(br, MaxFrame)
		if err != nil {
			s.Reset()
			return err
		}
		if len(b) == 0 {
			return nil
		}
		raws, err := decodeBatch(b)
		if err != nil {
			s.Reset()
			return err
		}
		for _, raw := range raws {
			e, err := feed.Decode(raw)
			if err != nil || e.Topic != topicID || e.VerifyMAC(&t.rep) != nil {
				s.Reset()
				return fmt.Errorf("peer sent an invalid entry on sync")
			}
		}
		x.syncFetched.Add(int64(len(raws)))
		select {
		case x.in <- inbound{topic: topicID, raws: raws, from: p, viaSync: true}:
		case <-ctx.Done():
			s.Reset()
			return ctx.Err()
		}
	}
}

// serveSync answers a sync request: every entry we have beyond the
// requester's vector, merged across feeds by Lamport clock so that
// dependencies mostly come before what depends on them, in frames of at
// most syncChunk entries, then an empty frame.
func (x *Host) serveSync(s network.Stream) {
	defer s.Close()
	s.SetDeadline(time.Now().Add(syncTimeout))
	br := bufio.NewReader(s)
	remote := s.Conn().RemotePeer()
	// The version, topic and proof come first, in a frame of their own:
	// a peer outside the group costs 65 bytes, and gets the same answer as
	// for a group this host is not in (nothing says which groups it is
	// in). A member gets this host's proof, then sends its vector.
	head, err := readFrame(br, syncHeadSize)
	var topicID, got [32]byte
	if err == nil {
		topicID, got, err = decodeSyncHead(head)
	}
	if err != nil {
		x.observe(SyncRefused, remote)
		s.Reset()
		return
	}
	x.mu.Lock()
	t, src := x.topics[topicID], x.source
	x.mu.Unlock()
	if t == nil || src == nil {
		writeFrame(s, nil) // not a group of ours (or not serving yet): nothing to say
		return
	}
	if want := proof(t.rep, remote, x.h.ID()); !hmac.Equal(want[:], got[:]) {
		x.observe(SyncRefused, remote)
		writeFrame(s, nil)
		return
	}
	answer := answerProof(t.rep, remote, x.h.ID())
	if err := writeFrame(s, answer[:]); err != nil {
		s.Reset()
		return
	}
	b, err := readFrame(br, maxVector)
	var vector map[keys.Public]uint64
	if err == nil {
		vector, err = decodeVector(b)
	}
	if err != nil {
		x.observe(SyncRefused, remote)
		s.Reset()
		return
	}
	local, err := src.Vector(topicID)
	if err != nil {
		s.Reset()
		return
	}
	bw := bufio.NewWriterSize(s, 64<<10)
	m := &merger{src: src, topic: topicID}
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
		if theirs > local[d] {
			x.syncLater(remote, topicID, pullBackDelay)
			break
		}
	}
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

// merger reads several feeds from storage a chunk at a time and yields their
// entries in Lamport order.
type merger struct {
	src   Source
	topic [32]byte
	h     cursorHeap
}

type cursor struct {
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
	raws, err := m.src.EntriesAfter(m.topic, c.dev, c.after, syncChunk)
	if err != nil {
		return err
	}
	for _, r := range raws {
		e, err := feed.Decode(r)
		if err != nil {
			return err
		}
		c.buf = append(c.buf, e)
	}
	c.after += uint64(len(raws))
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
