package p2p

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/wire"
)

// The mailbox protocol (docs/protocol.md §10.5): a device hands an
// infrastructure node what replication needs of a group — its topic, the
// replication (MAC) key and the network keys of its current epochs, never
// a key that reads anything — and the node stores the group's entries for
// members that are offline, and serves them when they come back.
//
// One request per stream, frames as in sync (§10.2):
//
//	head     u8 version = 1 || u8 op || topic[32] || network[32] || proof[32]    98 bytes
//	proof    = HMAC-SHA256(network key, "berty/v2/mailbox-proof" 0x00 || requester peer ID 0x00 || mailbox peer ID)
//	register replication key[32] || network key[32]         → status
//	put      a batch (§10.1)                                   → status || uvarint stored
//	vector   nothing                                           → status || vector (§10.2)
//	get      vector (§10.2)                                    → status, then batches, then an empty frame
const MailboxProtocol = protocol.ID("/berty/mailbox/1.0.0")

// Mailbox operations.
const (
	MailboxRegister = 1
	MailboxPut      = 2
	MailboxVector   = 3
	MailboxGet      = 4
)

// Mailbox statuses.
const (
	MailboxOK      = 0
	MailboxUnknown = 1 // not a network registered here, or a bad proof
	MailboxFull    = 2 // over a quota
	MailboxBad     = 3 // a malformed request or a refused entry
)

const (
	mailboxVersion  = 1
	mailboxHeadSize = 2 + 3*32
	// MailboxTimeout bounds one mailbox exchange.
	MailboxTimeout = time.Minute
)

// MailboxHead opens a mailbox request.
type MailboxHead struct {
	Op                    byte
	Topic, Network, Proof [32]byte
}

// EncodeMailboxHead encodes a request's head.
func EncodeMailboxHead(h MailboxHead) []byte {
	b := make([]byte, 0, mailboxHeadSize)
	b = append(b, mailboxVersion, h.Op)
	b = append(b, h.Topic[:]...)
	b = append(b, h.Network[:]...)
	return append(b, h.Proof[:]...)
}

// DecodeMailboxHead parses a request's head strictly.
func DecodeMailboxHead(b []byte) (MailboxHead, error) {
	var h MailboxHead
	r := wire.NewReader(b)
	if v := r.Byte(); v != mailboxVersion && r.Err() == nil {
		r.Fail("mailbox version %d", v)
	}
	h.Op = r.Byte()
	if r.Err() == nil && (h.Op < MailboxRegister || h.Op > MailboxGet) {
		r.Fail("mailbox op %d", h.Op)
	}
	copy(h.Topic[:], r.Fixed(32))
	copy(h.Network[:], r.Fixed(32))
	copy(h.Proof[:], r.Fixed(32))
	if err := r.Done(); err != nil {
		return h, fmt.Errorf("decode a mailbox head: %w", err)
	}
	return h, nil
}

// MailboxProof proves to a mailbox that the requester holds a network key.
func MailboxProof(networkKey [32]byte, requester, mailbox peer.ID) [32]byte {
	m := hmac.New(sha256.New, networkKey[:])
	m.Write([]byte("berty/v2/mailbox-proof"))
	m.Write([]byte{0})
	m.Write([]byte(requester))
	m.Write([]byte{0})
	m.Write([]byte(mailbox))
	return [32]byte(m.Sum(nil))
}

// The codecs of §10.1 and §10.2, for the mailbox server (package infra).
func EncodeBatch(raws [][]byte) []byte                      { return encodeBatch(raws) }
func DecodeBatch(b []byte) ([][]byte, error)                { return decodeBatch(b) }
func EncodeVector(v map[keys.Public]uint64) []byte          { return encodeVector(v) }
func DecodeVector(b []byte) (map[keys.Public]uint64, error) { return decodeVector(b) }

// MaxVectorSize bounds an encoded vector.
const MaxVectorSize = maxVector

// WriteFrame and ReadFrame are the framing of sync and the mailbox.
func WriteFrame(w interface{ Write([]byte) (int, error) }, b []byte) error { return writeFrame(w, b) }
func ReadFrame(r *bufio.Reader, max int) ([]byte, error)                   { return readFrame(r, max) }

// errMailbox is a mailbox's refusal.
type errMailbox byte

func (e errMailbox) Error() string {
	switch byte(e) {
	case MailboxUnknown:
		return "mailbox: group not registered there"
	case MailboxFull:
		return "mailbox: over its quota"
	default:
		return "mailbox: request refused"
	}
}

// mailboxCall opens a request to a mailbox under one network of a group
// and returns the stream, its reader and the status.
func (x *Host) mailboxCall(ctx context.Context, mb peer.ID, op byte, t *topic, nw *groupNet, body []byte) (network.Stream, *bufio.Reader, error) {
	s, err := x.h.NewStream(network.WithAllowLimitedConn(ctx, "berty-mailbox"), mb, MailboxProtocol)
	if err != nil {
		return nil, nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	head := EncodeMailboxHead(MailboxHead{Op: op, Topic: t.id, Network: nw.id, Proof: MailboxProof(nw.key, x.h.ID(), mb)})
	err = writeFrame(s, head)
	if err == nil {
		err = writeFrame(s, body)
	}
	if err != nil {
		s.Reset()
		return nil, nil, err
	}
	s.CloseWrite()
	br := bufio.NewReader(s)
	st, err := readFrame(br, 1)
	if err == nil && len(st) != 1 {
		err = errors.New("mailbox: bad status")
	}
	if err != nil {
		s.Reset()
		return nil, nil, err
	}
	if st[0] != MailboxOK {
		s.Reset()
		return nil, nil, errMailbox(st[0])
	}
	return s, br, nil
}

// mailboxes are the host's own mailboxes (Config.Mailboxes), by peer.
type mailboxes struct {
	list []peer.AddrInfo
	wake map[peer.ID]chan struct{} // a group joined a network: register and reconcile
}

// keepMailbox keeps a mailbox up to date with every group (§10.5): when it
// is reached, when a group joins a network, and every mailboxEvery, it
// registers the groups' networks, hands it the entries it lacks and takes
// the ones this device lacks. New entries go to it as they are published
// (pushMailboxes).
func (x *Host) keepMailbox(ai peer.AddrInfo) {
	backoff, failing := time.Second, false
	for {
		err := x.reconcileMailbox(x.ctx, ai, true)
		wait := x.cfg.MailboxEvery
		switch {
		case err == nil:
			backoff, failing = time.Second, false
		case x.ctx.Err() != nil:
			return
		case errors.Is(err, errMailbox(MailboxFull)) || errors.Is(err, errMailbox(MailboxBad)):
			// Refused, not failed: asking again at once changes nothing.
			x.log.Warn("mailbox: refused some entries; will try at the next round", "mailbox", ai.ID, "err", err)
		default:
			if !failing {
				x.log.Warn("mailbox: not reached; will keep trying", "mailbox", ai.ID, "err", err)
				failing = true
			}
			x.log.Debug("mailbox: not reached", "mailbox", ai.ID, "err", err)
			wait, backoff = min(backoff, wait), min(backoff*2, time.Minute)
		}
		t := time.NewTimer(wait)
		select {
		case <-x.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-x.mbox.wake[ai.ID]:
			t.Stop()
		}
	}
}

// reconcileMailbox runs one round with a mailbox for every group (without
// fetch: only hands it what it lacks).
func (x *Host) reconcileMailbox(ctx context.Context, ai peer.AddrInfo, fetch bool) error {
	ctx, cancel := context.WithTimeout(ctx, MailboxTimeout)
	defer cancel()
	if !x.connected(ai.ID) {
		x.clearBackoff(ai.ID)
		if err := x.h.Connect(ctx, ai); err != nil {
			return err
		}
	}
	_, src := x.attached()
	if src == nil {
		return nil
	}
	x.mu.Lock()
	var ts []*topic
	for _, t := range x.topics {
		ts = append(ts, t)
	}
	x.mu.Unlock()
	var errs []error
	stored, fetched := 0, 0
	for _, t := range ts {
		s, f, err := x.reconcileTopic(ctx, ai.ID, t, src, fetch)
		stored, fetched = stored+s, fetched+f
		if err != nil {
			errs = append(errs, err)
		}
	}
	if stored+fetched > 0 {
		x.log.Info("mailbox: synced", "mailbox", ai.ID, "stored", stored, "fetched", fetched)
	}
	if stored > 0 {
		x.observe(MailboxStored, ai.ID)
	}
	if fetched > 0 {
		x.observe(MailboxFetched, ai.ID)
	}
	return errors.Join(errs...)
}

// reconcileTopic registers a group's networks at a mailbox, puts what the
// mailbox lacks and gets what this device lacks.
func (x *Host) reconcileTopic(ctx context.Context, mb peer.ID, t *topic, src Source, fetch bool) (stored, fetched int, err error) {
	x.mu.Lock()
	nets := append([]*groupNet(nil), t.nets...)
	x.mu.Unlock()
	var errs []error
	// Each network of the group is a space of its own at the mailbox
	// (§10.5): a removed member reaches none of the epochs after her
	// removal. Entries go to every network the group is carried on — they
	// are the same entries; the networks are who may ask for them.
	for _, nw := range nets {
		s, f, err := x.reconcileNet(ctx, mb, t, nw, src, fetch)
		stored, fetched = stored+s, fetched+f
		if err != nil {
			errs = append(errs, err)
		}
	}
	return stored, fetched, errors.Join(errs...)
}

// reconcileNet registers one network of a group at a mailbox, puts what
// the mailbox lacks there — a feed it refuses is left, not the round — and
// gets what this device lacks.
func (x *Host) reconcileNet(ctx context.Context, mb peer.ID, t *topic, nw *groupNet, src Source, fetch bool) (stored, fetched int, err error) {
	body := append(append([]byte{}, t.rep[:]...), nw.key[:]...)
	s, _, err := x.mailboxCall(ctx, mb, MailboxRegister, t, nw, body)
	if err != nil {
		return 0, 0, fmt.Errorf("register: %w", err)
	}
	s.Close()
	s, br, err := x.mailboxCall(ctx, mb, MailboxVector, t, nw, nil)
	if err != nil {
		return 0, 0, err
	}
	vb, err := readFrame(br, maxVector)
	s.Close()
	if err != nil {
		return 0, 0, err
	}
	theirs, err := DecodeVector(vb)
	if err != nil {
		return 0, 0, err
	}
	local, err := src.Vector(t.id)
	if err != nil {
		return 0, 0, err
	}
	var errs []error
	for d, have := range local {
		for after := theirs[d]; after < have; {
			raws, err := signedChunk(src, t.id, d, after)
			if err != nil {
				return stored, 0, err
			}
			if len(raws) == 0 {
				break // nothing signed yet after it: the next round
			}
			n, err := x.mailboxPut(ctx, mb, t, nw, raws)
			stored += n
			if err != nil {
				errs = append(errs, fmt.Errorf("put %s's feed: %w", d, err))
				if errors.Is(err, errMailbox(MailboxUnknown)) || ctx.Err() != nil {
					return stored, 0, errors.Join(errs...)
				}
				break // this feed waits; the others, and the get, go on
			}
			after += uint64(len(raws))
		}
	}
	if fetch {
		fetched, err = x.mailboxGet(ctx, mb, t, nw, local)
		errs = append(errs, err)
	}
	return stored, fetched, errors.Join(errs...)
}

// flushTimeout bounds the last hand-over to the mailboxes when the host
// closes.
const flushTimeout = 3 * time.Second

// flushMailboxes hands the connected mailboxes what they lack, before the
// host closes: a message sent just before a device goes offline (a laptop
// closed) still reaches the peers that are offline too.
func (x *Host) flushMailboxes() {
	if _, src := x.attached(); src == nil || len(x.mbox.list) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(x.ctx, flushTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, ai := range x.mbox.list {
		if x.connected(ai.ID) {
			wg.Go(func() {
				if err := x.reconcileMailbox(ctx, ai, false); err != nil {
					x.log.Warn("mailbox: last hand-over failed", "mailbox", ai.ID, "err", err)
				}
			})
		}
	}
	x.mu.Lock()
	for _, t := range x.topics {
		// Peers that look connected too: one that has just gone may not be
		// noticed yet, and what was sent to it may not have arrived.
		for _, ai := range x.peerMailboxesLocked(t, true) {
			wg.Go(func() {
				if err := x.handOver(ctx, ai, t); err != nil {
					x.log.Warn("mailbox: last hand-over to a peer's mailbox failed", "mailbox", ai.ID, "err", err)
				}
			})
		}
	}
	x.mu.Unlock()
	wg.Wait()
}

// handOverBackoff is how long a peer's mailbox that could not be reached
// is left alone.
const handOverBackoff = time.Minute

// maxPeerMailboxes bounds the mailboxes of its peers a group is handed to.
const maxPeerMailboxes = 8

// peerMailboxesLocked returns the mailboxes that may keep a group for its
// peers that are away (§10.5): the relays through which its known peers
// that are not connected (or all of them) were reachable — a device with
// `--infra` uses its relay as its mailbox — other than this host's own
// mailboxes. x.mu is held.
func (x *Host) peerMailboxesLocked(t *topic, evenConnected bool) []peer.AddrInfo {
	var out []peer.AddrInfo
	for _, p := range x.groupPeersOf(t) {
		if !evenConnected && x.connected(p) {
			continue
		}
		for _, r := range x.relaysOf(p) {
			mine := slices.ContainsFunc(x.mbox.list, func(o peer.AddrInfo) bool { return o.ID == r.ID })
			if mine || slices.ContainsFunc(out, func(o peer.AddrInfo) bool { return o.ID == r.ID }) {
				continue
			}
			if out = append(out, r); len(out) == maxPeerMailboxes {
				return out
			}
		}
	}
	return out
}

// peerLeft hands every group a peer that went away is in to its
// mailboxes: what was sent to it just before it left may not have arrived.
func (x *Host) peerLeft(p peer.ID) {
	type job struct {
		ai peer.AddrInfo
		t  *topic
	}
	var jobs []job
	x.mu.Lock()
	for _, t := range x.topics {
		if !slices.Contains(x.groupPeersOf(t), p) {
			continue
		}
		for _, r := range x.relaysOf(p) {
			if !slices.ContainsFunc(x.mbox.list, func(o peer.AddrInfo) bool { return o.ID == r.ID }) {
				jobs = append(jobs, job{r, t})
			}
		}
	}
	x.mu.Unlock()
	for _, j := range jobs {
		x.handOverLater(j.ai, j.t)
	}
}

// handOverLater hands a group to a peer's mailbox in the background: one
// hand-over at a time per mailbox and group, run again if asked meanwhile.
func (x *Host) handOverLater(ai peer.AddrInfo, t *topic) {
	k := syncKey{ai.ID, t.id}
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return
	}
	if x.pushing[k] {
		x.pushAgain[k] = true
		x.mu.Unlock()
		return
	}
	if time.Since(x.handFailed[ai.ID]) < handOverBackoff {
		x.mu.Unlock()
		return // not reached a moment ago: the close, or a later publish, tries again
	}
	x.pushing[k] = true
	x.mu.Unlock()
	x.wg.Go(func() {
		for {
			ctx, cancel := context.WithTimeout(x.ctx, MailboxTimeout)
			err := x.handOver(ctx, ai, t)
			cancel()
			if err != nil && x.ctx.Err() == nil {
				x.log.Debug("mailbox: a peer's mailbox not reached", "mailbox", ai.ID, "err", err)
			}
			x.mu.Lock()
			if err != nil {
				if len(x.handFailed) >= maxRedials {
					clear(x.handFailed)
				}
				x.handFailed[ai.ID] = time.Now()
			}
			again := x.pushAgain[k] && err == nil
			delete(x.pushAgain, k)
			if !again {
				delete(x.pushing, k)
			}
			x.mu.Unlock()
			if !again {
				return
			}
		}
	})
}

// handOver registers a group at a peer's mailbox and puts there what it
// lacks (its own mailbox is where that peer fetches when it is back).
func (x *Host) handOver(ctx context.Context, ai peer.AddrInfo, t *topic) error {
	_, src := x.attached()
	if src == nil {
		return nil
	}
	if !x.connected(ai.ID) {
		x.clearBackoff(ai.ID)
		if err := x.h.Connect(ctx, ai); err != nil {
			return err
		}
	}
	n, _, err := x.reconcileTopic(ctx, ai.ID, t, src, false)
	if n > 0 {
		x.log.Info("mailbox: handed to a peer's mailbox", "mailbox", ai.ID, "stored", n)
		x.observe(MailboxStored, ai.ID)
	}
	return err
}

// signedChunk returns the entries of a feed after a seq, about syncChunk
// of them, ending with a signed one: a mailbox keeps an unsigned entry only
// with the signed one that authenticates it in the same put (§4.5). nil:
// nothing signed follows yet.
func signedChunk(src Source, topic [32]byte, d keys.Public, after uint64) ([][]byte, error) {
	for limit := syncChunk; ; limit *= 2 {
		raws, err := src.EntriesAfter(topic, d, after, limit)
		if err != nil {
			return nil, err
		}
		for i := len(raws) - 1; i >= 0; i-- {
			e, err := feed.Decode(raws[i])
			if err != nil {
				return nil, err
			}
			if e.Signed {
				return raws[:i+1], nil
			}
		}
		if len(raws) < limit || limit >= MaxBatchEntries {
			return nil, nil
		}
	}
}

// mailboxPut hands entries to a mailbox.
func (x *Host) mailboxPut(ctx context.Context, mb peer.ID, t *topic, nw *groupNet, raws [][]byte) (int, error) {
	s, br, err := x.mailboxCall(ctx, mb, MailboxPut, t, nw, encodeBatch(raws))
	if err != nil {
		return 0, err
	}
	defer s.Close()
	b, err := readFrame(br, 10)
	if err != nil {
		return 0, err
	}
	r := wire.NewReader(b)
	n := r.Uvarint(MaxBatchEntries)
	return int(n), r.Done()
}

// mailboxGet takes from a mailbox the entries beyond this device's vector
// and hands them to the node as a sync would.
func (x *Host) mailboxGet(ctx context.Context, mb peer.ID, t *topic, nw *groupNet, vec map[keys.Public]uint64) (int, error) {
	s, br, err := x.mailboxCall(ctx, mb, MailboxGet, t, nw, encodeVector(vec))
	if err != nil {
		return 0, err
	}
	defer s.Close()
	n := 0
	for {
		b, err := readFrame(br, MaxFrame)
		if err != nil {
			return n, err
		}
		if len(b) == 0 {
			return n, nil
		}
		raws, err := decodeBatch(b)
		if err != nil {
			return n, err
		}
		for _, raw := range raws {
			e, err := feed.Decode(raw)
			if err != nil || e.Topic != t.id || e.VerifyMAC(&t.rep) != nil {
				return n, errors.New("mailbox: sent an invalid entry")
			}
		}
		n += len(raws)
		select {
		case x.in <- inbound{topic: t.id, raws: raws, from: mb, viaSync: true}:
		case <-ctx.Done():
			return n, ctx.Err()
		}
	}
}

// pushMailboxes hands newly published entries to the host's mailboxes,
// each in its own goroutine per publish (bounded by the one in flight per
// mailbox and group: what a push drops, the next reconcile hands over).
func (x *Host) pushMailboxes(topicID [32]byte, raws [][]byte) {
	x.mu.Lock()
	t := x.topics[topicID]
	var nets []*groupNet
	if t != nil {
		nets = append(nets, t.nets...)
	}
	var theirs []peer.AddrInfo
	if t != nil {
		theirs = x.peerMailboxesLocked(t, false)
	}
	x.mu.Unlock()
	if len(nets) == 0 {
		return
	}
	for _, ai := range theirs {
		x.handOverLater(ai, t)
	}
	for _, ai := range x.mbox.list {
		k := syncKey{ai.ID, topicID}
		x.mu.Lock()
		busy := x.pushing[k]
		if !busy {
			x.pushing[k] = true
		}
		x.mu.Unlock()
		if busy {
			// One push at a time: wake the reconcile, which hands over
			// everything the mailbox lacks.
			select {
			case x.mbox.wake[ai.ID] <- struct{}{}:
			default:
			}
			continue
		}
		x.wg.Go(func() {
			defer func() {
				x.mu.Lock()
				delete(x.pushing, k)
				x.mu.Unlock()
			}()
			if !x.connected(ai.ID) {
				return // the reconcile at the next connection hands them over
			}
			ctx, cancel := context.WithTimeout(x.ctx, MailboxTimeout)
			defer cancel()
			n, err := 0, error(nil)
			for _, nw := range nets {
				k, perr := x.mailboxPut(ctx, ai.ID, t, nw, raws)
				n, err = n+k, errors.Join(err, perr)
			}
			if n > 0 {
				x.observe(MailboxStored, ai.ID)
			}
			if err != nil && x.ctx.Err() == nil {
				x.log.Debug("mailbox: put failed; the next round hands them over", "mailbox", ai.ID, "err", err)
				select {
				case x.mbox.wake[ai.ID] <- struct{}{}:
				default:
				}
			}
		})
	}
}
