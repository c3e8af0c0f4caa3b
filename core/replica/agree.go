package replica

import (
	"crypto/ecdh"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/seal"
	"github.com/berty-go/berty/core/state"
	"github.com/berty-go/berty/core/wire"
)

// Key-agreement keys (§6.4). A device's chain-key boxes are sealed to an
// X25519 key it draws at random, publishes (in its announce's certificate,
// then in key updates) and replaces: after its own rotation, and after it
// opened a box sealed to its current key once that key is AgreeEvery old.
// It deletes the private half of a replaced key once no box sealed to it can
// still come: every device that counts in the group has declared (by a
// dependency) that it saw the update that replaced it, and no box waits for
// its author to count — or at the latest AgreeKeep after it was replaced.
// A box is therefore openable from what the device stores for a bounded
// time only, which is what forward secrecy needs; and a device whose state
// was copied recovers with its next rotation, whose new key the copy lacks.

// Defaults for key-agreement keys, in seconds.
const (
	DefaultAgreeEvery = 24 * 3600
	DefaultAgreeKeep  = 7 * 24 * 3600
)

// MaxOwnKeys bounds the key-agreement keys a device keeps in one group; past
// it the oldest is deleted whatever may still be sealed to it (a box that
// then fails to open is asked for again, §6.4).
const MaxOwnKeys = 64

// ownKey is one of this device's key-agreement keys in the group.
type ownKey struct {
	priv *ecdh.PrivateKey
	// seq is the seq, in this device's feed, of the key update that
	// published the key; 0 for the key of the announce's certificate.
	seq     uint64
	made    int64 // when it was drawn (the replica's clock)
	retired int64 // when a newer key replaced it; 0 while current
}

// peerKey is another device's latest key-agreement key, from its feed.
type peerKey struct {
	key [32]byte
	seq uint64
}

// drawKey makes a new key-agreement key the current one; the previous one is
// retired now.
func (r *Replica) drawKey() (*ecdh.PrivateKey, error) {
	var s [32]byte
	if _, err := io.ReadFull(r.cfg.Rand, s[:]); err != nil {
		return nil, fmt.Errorf("draw key-agreement key: %w", err)
	}
	priv, err := ecdh.X25519().NewPrivateKey(s[:])
	if err != nil {
		return nil, err
	}
	if n := len(r.own); n > 0 && r.own[n-1].retired == 0 {
		r.own[n-1].retired = max(r.now, 1)
	}
	r.own = append(r.own, ownKey{priv: priv, made: r.now})
	if len(r.own) > MaxOwnKeys {
		r.own = slices.Delete(r.own, 0, len(r.own)-MaxOwnKeys)
		r.rd.Erased = true
	}
	r.dirty = true
	return priv, nil
}

// agreementKey returns the key to seal device d's boxes to: its latest key
// update's, or its certificate's.
func (r *Replica) agreementKey(dev *state.Device) (*ecdh.PublicKey, error) {
	if pk, ok := r.peerKeys[dev.Cert.Device]; ok {
		return ecdh.X25519().NewPublicKey(pk.key[:])
	}
	return dev.Cert.AgreementKey(), nil
}

// openBox opens a box sealed to one of this device's keys, newest first. It
// reports whether the key that opened it is the current one.
func (r *Replica) openBox(sealed, ad []byte) (pt []byte, current bool, err error) {
	err = errNoAgreeKey
	for i := len(r.own) - 1; i >= 0; i-- {
		if pt, err = seal.OpenBox(r.own[i].priv, sealed, ad); err == nil {
			return pt, i == len(r.own)-1, nil
		}
	}
	return nil, false, err
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
func (r *Replica) boxLost(author keys.Public) {
	if len(r.lost) >= state.MaxRecipients || r.lost[author] {
		return
	}
	r.lost[author] = true
	r.agreeDue, r.dirty = true, true
}

// takeKeyUpdate records a device's new key-agreement key, and hands this
// device's chain again when the update says a box from it was lost.
func (r *Replica) takeKeyUpdate(e *feed.Entry, u *state.KeyUpdate) {
	if pk, ok := r.peerKeys[e.Author]; !ok || e.Seq > pk.seq {
		r.peerKeys[e.Author] = peerKey{key: u.Key, seq: e.Seq}
		r.dirty = true
	}
	if _, found := slices.BinarySearchFunc(u.Lost, r.device.Public(), comparePublic); found {
		// Everything this device gives goes again: the chain and every
		// epoch it holds (the lost box carried some).
		delete(r.given, e.Author)
		r.resend[e.Author] = true
		r.dirty = true
	}
}

func comparePublic(a, b keys.Public) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
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

// updateKey posts a key update if one is due, with a new key.
func (r *Replica) updateKey() error {
	if !r.agreeDue && len(r.own) > 0 {
		return nil
	}
	priv, err := r.drawKey()
	if err != nil {
		return err
	}
	u := &state.KeyUpdate{}
	copy(u.Key[:], priv.PublicKey().Bytes())
	for d := range r.lost {
		u.Lost = append(u.Lost, d)
	}
	u.Lost = state.SortRoster(u.Lost)
	e, err := r.postMetadata(&state.Event{Update: u}, 0, nil)
	if err != nil {
		return err
	}
	r.own[len(r.own)-1].seq = e.Seq
	clear(r.lost)
	r.agreeDue = false
	return nil
}

// pruneKeys deletes the private halves of replaced keys that no box can
// still be sealed to (see the package comment on §6.4).
func (r *Replica) pruneKeys() {
	for len(r.own) > 1 {
		old, next := r.own[0], r.own[1]
		if r.now-old.retired < r.cfg.AgreeKeep && !r.allSaw(next.seq) {
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
	if len(r.deferredKeys) > 0 {
		return false // a box waits for its author: it may be sealed to any key
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
		b = append(b, k.priv.Bytes()...)
		b = wire.AppendUvarint(b, k.seq)
		b = wire.AppendUvarint(b, uint64(k.made))
		b = wire.AppendUvarint(b, uint64(k.retired))
	}
	b = wire.AppendUvarint(b, uint64(len(r.peerKeys)))
	for _, d := range sortedKeys(r.peerKeys) {
		b = append(b, d[:]...)
		pk := r.peerKeys[d]
		b = append(b, pk.key[:]...)
		b = wire.AppendUvarint(b, pk.seq)
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
	due := byte(0)
	if r.agreeDue {
		due = 1
	}
	return append(b, due)
}

// readAgree decodes what appendAgree wrote.
func (r *Replica) readAgree(rd *wire.Reader) {
	n := rd.Uvarint(MaxOwnKeys)
	r.own = nil
	for i := uint64(0); i < n && rd.Err() == nil; i++ {
		s := rd.Fixed32()
		k := ownKey{seq: rd.Uvarint(feed.MaxSeq), made: int64(rd.Uvarint(1<<64 - 1)), retired: int64(rd.Uvarint(1<<64 - 1))}
		if rd.Err() != nil {
			break
		}
		priv, err := ecdh.X25519().NewPrivateKey(s[:])
		if err != nil {
			rd.Fail("snapshot key-agreement key: %v", err)
			break
		}
		k.priv = priv
		r.own = append(r.own, k)
	}
	n = rd.Uvarint(maxSnapDevices)
	var order sortedReader
	for i := uint64(0); i < n && rd.Err() == nil; i++ {
		d := order.next(rd)
		pk := peerKey{key: rd.Fixed32(), seq: rd.Uvarint(feed.MaxSeq)}
		if rd.Err() == nil && keys.CheckX25519(pk.key) != nil {
			rd.Fail("snapshot: bad key-agreement key of a device")
		}
		r.peerKeys[d] = pk
	}
	n = rd.Uvarint(maxSnapDevices)
	order = sortedReader{}
	for i := uint64(0); i < n && rd.Err() == nil; i++ {
		d := order.next(rd)
		r.seen[d] = rd.Uvarint(feed.MaxSeq)
	}
	for _, set := range []map[keys.Public]bool{r.lost, r.resend} {
		n = rd.Uvarint(state.MaxRecipients)
		order = sortedReader{}
		for i := uint64(0); i < n && rd.Err() == nil; i++ {
			set[order.next(rd)] = true
		}
	}
	r.agreeDue = readFlag(rd)
}
