package replica

import (
	"bytes"
	"crypto/ecdh"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/ratchet"
	"github.com/berty-go/berty/core/seal"
	"github.com/berty-go/berty/core/state"
	"github.com/berty-go/berty/core/wire"
)

// Key-agreement keys (§6.4). A device's chain-key boxes are sealed to a
// hybrid key (X25519 + ML-KEM-768, §3.5) it draws at random, publishes in key
// updates and replaces: at its own rotation, and after it opened a box sealed
// to its current key once that key is AgreeEvery old. Each box names the key
// it is sealed to. The device deletes the private half of a replaced key
// once no box sealed to it can still come — every device that counts in the
// group has declared (by a dependency) that it saw the update that replaced
// it — or at the latest AgreeKeep after it was replaced. A box is therefore
// openable from what the device stores for a bounded time only, which is
// what forward secrecy needs; and a device whose state was copied recovers
// with its next rotation, whose new key the copy lacks. A box sealed to a
// key already deleted (its author was away longer than AgreeKeep) is asked
// for again: the device's next key update names the author ("lost"), which
// hands its chain again from where it first gave it.

// Defaults for key-agreement keys, in seconds.
const (
	DefaultAgreeEvery = 24 * 3600
	DefaultAgreeKeep  = 30 * 24 * 3600
)

// MaxOwnKeys bounds the key-agreement keys a device keeps in one group. A
// key is never deleted before the rule allows (every counting device saw
// its replacement, or AgreeKeep): with MaxOwnKeys held, a rotation keeps
// the current key instead of drawing one — a member who forces rotations
// (joins and leaves of puppets) must not make a device delete the key an
// absent member still seals to.
const MaxOwnKeys = 64

// ownKey is one of this device's key-agreement keys in the group: a hybrid
// key (§3.5), or the X25519 key a device derived from its seed before key
// updates (legacy: kept only to open what was sealed to it then).
type ownKey struct {
	hybrid *seal.HybridPrivate
	legacy *ecdh.PrivateKey
	// first and last are the seqs, in this device's feed, of the first and
	// the last key update that published the key (a key is published again
	// to name lost boxes); 0 while it is not published. A box naming a seq between them is sealed to this key.
	first, last uint64
	made        int64 // when it was drawn (the replica's clock)
	retired     int64 // when a newer key replaced it; 0 while current
}

// peerKey is where another device's latest key-agreement key is: the seq of
// its key update. The key itself (1 216 bytes) is read from that entry when
// needed and cached, not kept in the snapshot, which is written at every
// commit.
type peerKey struct {
	seq uint64
	pub *seal.HybridPublic // cache; nil until loaded
}

// drawKey makes a new hybrid key the current one; the previous one is
// retired now.
func (r *Replica) drawKey() (*seal.HybridPrivate, error) {
	k, err := seal.GenerateHybrid(r.cfg.Rand)
	if err != nil {
		return nil, fmt.Errorf("draw key-agreement key: %w", err)
	}
	if n := len(r.own); n > 0 && r.own[n-1].retired == 0 {
		r.own[n-1].retired = max(r.now, 1)
	}
	r.own = append(r.own, ownKey{hybrid: k, made: r.now})
	r.dirty = true
	return k, nil
}

// hasKey reports whether a key update of device d is known here.
func (r *Replica) hasKey(d keys.Public) bool {
	_, ok := r.peerKeys[d]
	return ok
}

// agreementKey returns the key to seal device d's boxes to: its latest key
// update's, or nil while none is known here (d then gets its box once its
// update arrives: it posts one with its announce). The key is read from that
// entry through lk the first time it is needed, then kept in memory (nil lk:
// only a key already read).
func (r *Replica) agreementKey(d keys.Public, lk feed.Lookup) *seal.HybridPublic {
	pk, ok := r.peerKeys[d]
	if !ok || pk.pub != nil || lk == nil {
		return pk.pub
	}
	e := r.storedEntry(pos{d, pk.seq}, lk)
	if e == nil || e.Kind != feed.KindMetadata {
		return nil
	}
	if ev, err := r.openMetadata(e); err == nil && ev.Update != nil {
		if pub, err := seal.ParseHybridPublic(ev.Update.Key[:]); err == nil {
			pk.pub = pub
			r.peerKeys[d] = pk
		}
	}
	return pk.pub
}

// openBox opens a box sealed to one of this device's keys: for a hybrid box,
// the key whose publications include the seq the box names; for an X25519
// box (type 2, written before key updates), the legacy key. It reports
// whether the key that opened it is the current one, and whether the box
// names a key this device deleted (lost: to ask for again).
func (r *Replica) openBox(k *state.ChainKeys, b *state.Box, ad []byte) (pt []byte, current, lost bool, err error) {
	for i := len(r.own) - 1; i >= 0; i-- {
		o := r.own[i]
		switch {
		case !k.Hybrid && o.legacy != nil:
			pt, err = seal.OpenBox(o.legacy, b.Sealed, ad)
		case k.Hybrid && o.hybrid != nil && o.first != 0 && o.first <= b.Key && b.Key <= o.last:
			pt, err = seal.OpenHybrid(o.hybrid, b.Sealed, ad)
		default:
			continue
		}
		if err != nil {
			return nil, false, false, err // not sealed to it: garbage
		}
		return pt, i == len(r.own)-1, false, nil
	}
	// A seq before every key held names a key deleted since; one after
	// them, or none, is garbage.
	oldest := uint64(0)
	for _, o := range r.own {
		if o.first != 0 {
			oldest = o.first
			break
		}
	}
	return nil, false, k.Hybrid && b.Key > 0 && b.Key < oldest, errNoAgreeKey
}

var errNoAgreeKey = errors.New("no key-agreement key opens the box")

// boxOpened notes that a box sealed to the current key was consumed: the key
// is replaced once it is AgreeEvery old, so that what it opened cannot be
// opened again from what is stored for longer than that.
func (r *Replica) boxOpened(current bool) {
	if !current {
		return
	}
	if k := r.own[len(r.own)-1]; r.now-k.made >= r.cfg.AgreeEvery {
		r.agreeDue, r.dirty = true, true
	}
}

// boxLost notes a box from author, a device that counts, that no key of this
// device opens: the key was deleted (or the box is garbage). The next key
// update names the author, which then hands its chain again.
//
// A device names an author at most once per key of its own: a member that
// writes boxes naming deleted keys on purpose costs it one key update per
// key it draws, no more.
func (r *Replica) boxLost(author keys.Public) {
	cur := r.own[len(r.own)-1].first
	if len(r.lost) >= state.MaxRecipients || r.lost[author] || r.lostNamed[author] >= cur && cur != 0 {
		return
	}
	r.lost[author] = true
	r.dirty = true
}

// takeKeyUpdate records a device's new key-agreement key, and hands this
// device's chain again when the update says a box from it was lost. The key
// of any device whose announce holds its signatures is kept — one that does
// not count yet (waiting for an approval) needs its boxes once it does — as
// the replica keeps its feed; a lost list is heard only from a device this
// replica sealed a box to.
func (r *Replica) takeKeyUpdate(e *feed.Entry, u *state.KeyUpdate) {
	if _, claimed := r.state.Claim(e.Author); !claimed {
		return
	}
	if c, cut := r.state.Cutoff(e.Author); cut && e.Seq > c {
		return
	}
	if pk, ok := r.peerKeys[e.Author]; !ok || e.Seq > pk.seq {
		// The key is parsed when a box is sealed to it (agreementKey): a
		// new member reads every member's update and seals to few of them
		// soon, if ever.
		r.peerKeys[e.Author] = peerKey{seq: e.Seq}
		r.dirty = true
	}
	if _, found := slices.BinarySearchFunc(u.Lost, r.device.Public(), func(a, b keys.Public) int { return bytes.Compare(a[:], b[:]) }); !found {
		return
	}
	// Honoured only if this device sealed its last box to the author to a
	// key the author published before this update, and at most once per
	// AgreeEvery: a member cannot make everyone re-send at will.
	if sealed, ok := r.sealedTo[e.Author]; !ok || sealed >= e.Seq {
		return
	}
	if at, ok := r.resentAt[e.Author]; ok && r.now-at < r.cfg.AgreeEvery {
		return
	}
	r.resentAt[e.Author] = r.now
	r.resend[e.Author] = true
	r.dirty = true
}

// noteSeen records what a dependency of another device's entry says it had
// seen of this device's feed: boxes it seals after that go to the keys this
// device had published by then.
func (r *Replica) noteSeen(e *feed.Entry) {
	self := r.device.Public()
	for _, d := range e.Deps {
		if d.Device == self && d.Seq > r.seen[e.Author] {
			r.seen[e.Author] = d.Seq
			r.dirty = true
		}
	}
}

// updateKey posts a key update when one is due: with a new key after a
// rotation or a consumed box (agreeDue), or without one — the current key
// published again — to name lost boxes.
func (r *Replica) updateKey() error {
	if !r.agreeDue && len(r.lost) == 0 && len(r.own) > 0 {
		return nil
	}
	cur := len(r.own) - 1
	if r.agreeDue || cur < 0 || r.own[cur].hybrid == nil {
		if cur >= 0 && r.own[cur].first != 0 && r.own[cur].hybrid != nil && len(r.own) >= MaxOwnKeys {
			r.pruneKeys()
		}
		switch {
		case cur >= 0 && r.own[cur].first == 0 && r.own[cur].hybrid != nil:
			// The announce's key, not published yet: publish it.
		case cur >= 0 && r.own[cur].hybrid != nil && len(r.own) >= MaxOwnKeys:
			// Full: keep the current key (see MaxOwnKeys).
			r.agreeDue = false
			if len(r.lost) == 0 {
				return nil
			}
		default:
			if _, err := r.drawKey(); err != nil {
				return err
			}
		}
		cur = len(r.own) - 1
	}
	u := &state.KeyUpdate{}
	copy(u.Key[:], r.own[cur].hybrid.Public().Bytes())
	for d := range r.lost {
		u.Lost = append(u.Lost, d)
	}
	u.Lost = state.SortRoster(u.Lost)
	e, err := r.postMetadata(&state.Event{Update: u}, 0, nil)
	if err != nil {
		return err
	}
	if r.own[cur].first == 0 {
		r.own[cur].first = e.Seq
	}
	r.own[cur].last = e.Seq
	for d := range r.lost {
		r.lostNamed[d] = r.own[cur].first
	}
	clear(r.lost)
	r.agreeDue = false
	r.dirty = true
	return nil
}

// chainFor returns the chain to hand device d (§6.3, §6.4): in account and
// contact groups the epoch's base key; in multi-member groups the chain from
// where d became entitled to it (givenFrom: when this device first had it
// to give), derived from the base key — also when d lost a box and gets it
// again.
func (r *Replica) chainFor(d keys.Public) []byte {
	from := uint32(0)
	if r.g.Kind == group.KindMulti {
		from = r.givenFrom[d]
	}
	ck := r.send.Base
	if from == r.send.Counter {
		ck = r.send.CK
	} else {
		for c := uint32(0); c < from; c++ {
			_, ck = ratchet.Step(&ck)
		}
	}
	out := make([]byte, 36)
	copy(out, ck[:])
	binary.BigEndian.PutUint32(out[32:], from)
	return out
}

// pruneKeys deletes the private halves of replaced keys that no box can
// still be sealed to (see the package comment on §6.4).
func (r *Replica) pruneKeys() {
	for len(r.own) > 1 {
		old, next := r.own[0], r.own[1]
		if r.now-old.retired < r.cfg.AgreeKeep && !r.allSaw(next.first) {
			return
		}
		r.own = r.own[1:]
		r.dirty, r.rd.Erased = true, true
	}
}

// allSaw reports whether every other device that counts has declared that
// it saw this device's feed up to seq, and no box to this device waits for
// its author to count.
func (r *Replica) allSaw(seq uint64) bool {
	if seq == 0 {
		return false
	}
	self := r.device.Public()
	// A box waiting for its author to count (deferredKeys) holds deletion
	// up only if its author waits for an approval (§5.7): a device
	// certified by a member, which will likely count soon. Anyone with the
	// group secret can write a box that waits for ever. If its key is gone
	// when its author counts, it is lost and asked for again.
	for _, p := range r.deferredKeys {
		if r.state.Pending(p.dev) {
			return false
		}
	}
	for _, d := range r.state.ActiveDevices() {
		if d != self && r.seen[d] < seq {
			return false
		}
	}
	return true
}

// appendAgree encodes the key-agreement part of a snapshot (§7.4).
func (r *Replica) appendAgree(b []byte) []byte {
	b = wire.AppendUvarint(b, uint64(len(r.own)))
	for _, k := range r.own {
		if k.hybrid != nil {
			b = append(b, 1)
			b = append(b, k.hybrid.Bytes()...)
		} else {
			b = append(b, 0)
			b = append(b, k.legacy.Bytes()...)
		}
		b = wire.AppendUvarint(b, k.first)
		b = wire.AppendUvarint(b, k.last)
		b = wire.AppendUvarint(b, uint64(k.made))
		b = wire.AppendUvarint(b, uint64(k.retired))
	}
	b = wire.AppendUvarint(b, uint64(len(r.peerKeys)))
	for _, d := range sortedKeys(r.peerKeys) {
		b = append(b, d[:]...)
		b = wire.AppendUvarint(b, r.peerKeys[d].seq)
	}
	b = wire.AppendUvarint(b, uint64(len(r.seen)))
	for _, d := range sortedKeys(r.seen) {
		b = append(b, d[:]...)
		b = wire.AppendUvarint(b, r.seen[d])
	}
	for _, set := range []map[keys.Public]bool{r.lost, r.resend} {
		b = wire.AppendUvarint(b, uint64(len(set)))
		for _, d := range sortedKeys(set) {
			b = append(b, d[:]...)
		}
	}
	for _, m := range []map[keys.Public]uint64{r.lostNamed, r.sealedTo} {
		b = wire.AppendUvarint(b, uint64(len(m)))
		for _, d := range sortedKeys(m) {
			b = append(b, d[:]...)
			b = wire.AppendUvarint(b, m[d])
		}
	}
	b = wire.AppendUvarint(b, uint64(len(r.resentAt)))
	for _, d := range sortedKeys(r.resentAt) {
		b = append(b, d[:]...)
		b = wire.AppendUvarint(b, uint64(r.resentAt[d]))
	}
	b = wire.AppendUvarint(b, uint64(len(r.givenFrom)))
	for _, d := range sortedKeys(r.givenFrom) {
		b = append(b, d[:]...)
		b = wire.AppendUvarint(b, uint64(r.givenFrom[d]))
	}
	return append(b, flagByte(r.agreeDue))
}

// readAgree decodes what appendAgree wrote.
func (r *Replica) readAgree(rd *wire.Reader) {
	n := rd.Uvarint(MaxOwnKeys)
	r.own = nil
	for i := uint64(0); i < n && rd.Err() == nil; i++ {
		var k ownKey
		var err error
		switch rd.Byte() {
		case 1:
			k.hybrid, err = seal.ParseHybridPrivate(rd.Fixed(seal.HybridPrivateSize))
		case 0:
			k.legacy, err = ecdh.X25519().NewPrivateKey(rd.Fixed(32))
		default:
			rd.Fail("snapshot: key-agreement key of an unknown kind")
		}
		k.first, k.last = rd.Uvarint(feed.MaxSeq), rd.Uvarint(feed.MaxSeq)
		k.made, k.retired = int64(rd.Uvarint(1<<64-1)), int64(rd.Uvarint(1<<64-1))
		if rd.Err() != nil {
			break
		}
		if err != nil {
			rd.Fail("snapshot key-agreement key: %v", err)
			break
		}
		r.own = append(r.own, k)
	}
	n = rd.Uvarint(maxSnapDevices)
	var order sortedReader
	for i := uint64(0); i < n && rd.Err() == nil; i++ {
		d := order.next(rd)
		r.peerKeys[d] = peerKey{seq: rd.Uvarint(feed.MaxSeq)}
	}
	n = rd.Uvarint(maxSnapDevices)
	order = sortedReader{}
	for i := uint64(0); i < n && rd.Err() == nil; i++ {
		d := order.next(rd)
		r.seen[d] = rd.Uvarint(feed.MaxSeq)
	}
	for _, set := range []map[keys.Public]bool{r.lost, r.resend} {
		n = rd.Uvarint(maxSnapDevices)
		order = sortedReader{}
		for i := uint64(0); i < n && rd.Err() == nil; i++ {
			set[order.next(rd)] = true
		}
	}
	for _, m := range []map[keys.Public]uint64{r.lostNamed, r.sealedTo} {
		n = rd.Uvarint(maxSnapDevices)
		order = sortedReader{}
		for i := uint64(0); i < n && rd.Err() == nil; i++ {
			d := order.next(rd)
			m[d] = rd.Uvarint(feed.MaxSeq)
		}
	}
	n = rd.Uvarint(maxSnapDevices)
	order = sortedReader{}
	for i := uint64(0); i < n && rd.Err() == nil; i++ {
		d := order.next(rd)
		r.resentAt[d] = int64(rd.Uvarint(1<<64 - 1))
	}
	n = rd.Uvarint(maxSnapDevices)
	order = sortedReader{}
	for i := uint64(0); i < n && rd.Err() == nil; i++ {
		d := order.next(rd)
		r.givenFrom[d] = uint32(rd.Uvarint(1<<32 - 1))
	}
	r.agreeDue = readFlag(rd)
}

func flagByte(f bool) byte {
	if f {
		return 1
	}
	return 0
}
