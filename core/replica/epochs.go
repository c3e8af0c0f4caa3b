package replica

// Epochs (docs/protocol.md §3.4, §6.3). Metadata events other than device
// announces, approvals and key distributions are sealed under the key of an
// epoch: a random secret that one device creates and hands, in the sealed
// boxes of its chain-key events, to every current device of the group. The
// group secret — which every link carries and every removed member keeps —
// is epoch 0: it seals only what a new device must read before anyone hands
// it an epoch. A removal or a revocation taints every epoch a cut device
// holds; the next metadata this replica writes goes under an epoch none of
// them holds, created if need be. Only vouched epochs — made here, or given
// by a device that counts — are written in or handed on.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/state"
	"github.com/berty-go/berty/core/wire"
)

// MaxUnopened bounds the metadata entries a replica keeps track of while it
// lacks their epoch's secret (a new member before its history arrives);
// beyond it, new ones are not tracked and stay unread.
const MaxUnopened = 16384

// maxUnopenedPerDevice bounds the entries of one device waiting for an
// epoch, so that one writer cannot take the whole of MaxUnopened.
const maxUnopenedPerDevice = 1024

// maxHolderEpochs bounds the epochs whose holders a replica tracks (IDs a
// member lists on boxes); an epoch beyond it counts as tainted.
const maxHolderEpochs = 4 * state.MaxEpochBundle

// maxBoxesBytes bounds the sealed boxes of one chain-key event, so that the
// event fits an entry whatever the bundles weigh.
const maxBoxesBytes = 48 << 10

// errUnknownEpoch: a metadata entry sealed under an epoch this replica does
// not hold (yet).
var errUnknownEpoch = errors.New("metadata sealed under an epoch this device does not hold")

// heldEpoch is an epoch secret this replica holds, with where it learnt it:
// the entry that carried it to this replica (or its own next entry, for one
// it created). The latest untainted one is the epoch it writes in.
type heldEpoch struct {
	group.Epoch
	lamport uint64
	entry   feed.ID
	giver   keys.Public // the device that handed it to this replica (itself for its own)
	// readOnly: handed on as history (§3.4), to read with only: never
	// this replica's current epoch, whoever gave it.
	readOnly bool
}

func (h *heldEpoch) after(o *heldEpoch) bool {
	if h.lamport != o.lamport {
		return h.lamport > o.lamport
	}
	return bytes.Compare(h.entry[:], o.entry[:]) > 0
}

type pos struct {
	dev keys.Public
	seq uint64
}

func (r *Replica) initEpochs() {
	e0 := r.g.Epoch(r.g.Secret)
	r.zero = e0.ID
	r.epochs = map[group.EpochID]*heldEpoch{e0.ID: {Epoch: e0}}
	r.holders = map[group.EpochID]map[keys.Public]bool{}
	r.unopened = map[group.EpochID][]pos{}
	r.unopenedBy = map[keys.Public]int{}
}

// setUnopened replaces the entries waiting for epoch id, keeping the
// per-device counts that bound them.
func (r *Replica) setUnopened(id group.EpochID, ps []pos) {
	for _, p := range r.unopened[id] {
		if r.unopenedBy[p.dev]--; r.unopenedBy[p.dev] <= 0 {
			delete(r.unopenedBy, p.dev)
		}
		r.unopenedN--
	}
	delete(r.unopened, id)
	if len(ps) > 0 {
		r.unopened[id] = ps
	}
	for _, p := range ps {
		r.unopenedBy[p.dev]++
		r.unopenedN++
	}
	r.dirty = true
}

// learnEpoch adds an epoch secret; it reports whether it was new. Of the
// devices that gave it, a vouched one (that counts) stands over one that
// does not, then the earliest.
func (r *Replica) learnEpoch(secret [32]byte, lamport uint64, entry feed.ID, giver keys.Public, readOnly bool) (group.EpochID, bool) {
	ep := r.g.Epoch(secret)
	h := &heldEpoch{Epoch: ep, lamport: lamport, entry: entry, giver: giver, readOnly: readOnly}
	if old, ok := r.epochs[ep.ID]; ok {
		better := r.vouched(h) && !r.vouched(old)
		if ep.ID != r.zero && (better || (r.vouched(h) == r.vouched(old) && old.after(h))) {
			old.lamport, old.entry, old.giver, old.readOnly = lamport, entry, giver, readOnly
			r.dirty = true
		}
		return ep.ID, false
	}
	if !r.vouched(h) && r.unvouchedCount() >= state.MaxEpochBundle {
		return ep.ID, false // epochs from devices that do not count: bounded
	}
	if len(r.epochs) > maxHolderEpochs && !r.evictEpoch() {
		return ep.ID, false
	}
	r.epochs[ep.ID] = h
	r.dirty = true
	return ep.ID, true
}

// vouched reports whether this replica may write in an epoch, and hand it
// on: it made it, or a device that counts in the group gave it.
func (r *Replica) vouched(h *heldEpoch) bool {
	if h.readOnly {
		return false
	}
	if h.giver == r.device.Public() {
		return true
	}
	_, cut := r.state.Cutoff(h.giver)
	return r.state.Device(h.giver) != nil && !cut
}

func (r *Replica) unvouchedCount() int {
	n := 0
	for id, h := range r.epochs {
		if id != r.zero && !r.vouched(h) {
			n++
		}
	}
	return n
}

// evictEpoch forgets one epoch to make room: one no counting device gave,
// else a tainted one; it reports whether it found one. (What was sealed in
// it stays stored, unread here.)
func (r *Replica) evictEpoch() bool {
	for _, unvouched := range []bool{true, false} {
		for id, h := range r.epochs {
			if id == r.zero || (unvouched && r.vouched(h)) || (!unvouched && !r.tainted(id)) {
				continue
			}
			delete(r.epochs, id)
			delete(r.holders, id)
			r.dirty = true
			return true
		}
	}
	return false
}

// tainted reports whether an epoch may be known to someone who must not
// read what is written now: epoch 0 (every link holder), an epoch whose
// holders are unknown, or one of whose holders is not a counting device of
// the group — removed, dropped, revoked, or never let in.
func (r *Replica) tainted(id group.EpochID) bool {
	hs, ok := r.holders[id]
	if id == r.zero || !ok {
		return true
	}
	for d := range hs {
		if _, cut := r.state.Cutoff(d); cut || r.state.Device(d) == nil {
			return true
		}
	}
	return false
}

// current returns the epoch this replica writes metadata in: the latest
// untainted one it holds that it made or that a device counting in the
// group gave it, or nil. (A new device takes epochs from its siblings and
// its inviter before it can tell whether they count, to read the group's
// history; it writes only in one it can vouch for.)
func (r *Replica) current() *heldEpoch {
	var best *heldEpoch
	for id, h := range r.epochs {
		if r.tainted(id) {
			continue
		}
		if !r.vouched(h) {
			continue
		}
		if best == nil || h.after(best) || (!best.after(h) && bytes.Compare(h.ID[:], best.ID[:]) > 0) {
			best = h
		}
	}
	return best
}

// rekey creates a new epoch. distribute hands it to every current device.
func (r *Replica) rekey() (*heldEpoch, error) {
	var secret [32]byte
	if _, err := io.ReadFull(r.cfg.Rand, secret[:]); err != nil {
		return nil, fmt.Errorf("new epoch: %w", err)
	}
	_, _, lamport, _ := r.tracker.NextLocal(r.device.Public())
	id, _ := r.learnEpoch(secret, lamport, feed.ID{}, r.device.Public(), false)
	if r.epochs[id] == nil {
		return nil, fmt.Errorf("new epoch: this device holds %d epochs of the group already", len(r.epochs))
	}
	r.addHolder(id, r.device.Public())
	r.rd.Events = append(r.rd.Events, Event{Kind: EventRekeyed, Device: r.device.Public()})
	return r.epochs[id], nil
}

func (r *Replica) addHolder(id group.EpochID, d keys.Public) {
	m := r.holders[id]
	if m == nil {
		if len(r.holders) >= maxHolderEpochs && !r.evictHolders() {
			return // tainted then holds such an epoch unsafe: its holders are unknown
		}
		m = map[keys.Public]bool{}
		r.holders[id] = m
	}
	if !m[d] && len(m) < maxSnapDevices {
		m[d] = true
		r.dirty = true
	}
}

// evictHolders makes room in the holder notes by forgetting those of an
// epoch this replica does not hold: a counting device can name made-up
// epoch IDs on its boxes, and a full table left every new epoch with
// unknown holders — tainted — so that every write made a new epoch, for
// ever (a review found it). Notes of held epochs are kept.
func (r *Replica) evictHolders() bool {
	for id := range r.holders {
		if _, held := r.epochs[id]; !held {
			delete(r.holders, id)
			r.dirty = true
			return true
		}
	}
	return false
}

// writeEpoch returns the epoch ev is sealed in: epoch 0 for announces,
// approvals and key distributions — what a new device must read to find
// out that it counts, before anyone hands it an epoch; the current epoch
// otherwise, created first if every epoch is tainted.
func (r *Replica) writeEpoch(ev *state.Event) (*heldEpoch, error) {
	if ev.Announce != nil || ev.Keys != nil || ev.Approved != nil || ev.Update != nil {
		return r.epochs[r.zero], nil
	}
	if cur := r.current(); cur != nil {
		return cur, nil
	}
	if ev.Removed != nil || ev.Revoked != nil {
		// The removed or revoked devices must read the event (they stop
		// writing, and tell their user); an epoch made for it now would be
		// theirs too, and tainted at once.
		return r.epochs[r.zero], nil
	}
	cur, err := r.rekey()
	if err != nil {
		return nil, err
	}
	// Hand the new epoch out before the event sealed in it, so that the
	// other devices read the key first.
	if r.send != nil {
		if err := r.distribute(nil); err != nil {
			return nil, err
		}
	}
	return cur, nil
}

// missingEpochs returns the epochs this replica holds that device d is not
// known to hold — all of them when d lost a box of ours (§6.4) — oldest
// first (at most MaxEpochBundle, the newest): what a box to d carries. Those it may not write in itself go as history, to
// read with only (see historical).
func (r *Replica) missingEpochs(d keys.Public) []*heldEpoch {
	var out []*heldEpoch
	for id, h := range r.epochs {
		if id != r.zero && (!r.holders[id][d] || r.resend[d]) && (r.vouched(h) || r.historical(h)) {
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[j].after(out[i]) })
	if len(out) > state.MaxEpochBundle {
		out = out[len(out)-state.MaxEpochBundle:]
	}
	return out
}

// historical reports whether h is history: an epoch given by a device cut
// off since (revoked, removed), or handed to this replica as history. What
// was sealed in it — among it, maybe, the revocation itself, sealed in the
// revoker's epoch of the time, which the revoked device made — must stay
// readable to a device that comes after, so it is handed on, marked as
// history: the recipient reads with it and never writes in it, whatever it
// knows of its holders (§3.4). (A review found a device linked after a
// revocation that could not read the revocation, and handed the revoker's
// new epoch to the revoked device; a second, that holder notes alone could
// not keep the recipient from writing in the revoked device's epoch.)
func (r *Replica) historical(h *heldEpoch) bool {
	if h.readOnly {
		return true
	}
	_, cut := r.state.Cutoff(h.giver)
	return cut
}

// boxPlaintext is what a box holds: u8 flags (1: a chain follows) || chain
// (36 bytes) || uvarint m || m epoch secrets.
// With flag 2, a bitmap of ceil(m/8) bytes follows the secrets: bit i
// (byte i/8, bit i%8 from the low end) marks secret i as history, to read
// with only (§3.4); the flag is set only when a bit is, and bits past m are
// 0 (one value, one encoding).
func boxPlaintext(chain []byte, epochs []*heldEpoch, history []bool) []byte {
	b := []byte{0}
	if chain != nil {
		b[0] = 1
		b = append(b, chain...)
	}
	b = wire.AppendUvarint(b, uint64(len(epochs)))
	for _, h := range epochs {
		b = append(b, h.Secret[:]...)
	}
	if slices.Contains(history, true) {
		b[0] |= 2
		bits := make([]byte, (len(epochs)+7)/8)
		for i, hist := range history {
			if hist {
				bits[i/8] |= 1 << (i % 8)
			}
		}
		b = append(b, bits...)
	}
	return b
}

func parseBox(pt []byte) (chain []byte, secrets [][32]byte, history []bool, err error) {
	rd := wire.NewReader(pt)
	flags := rd.Byte()
	if flags&^3 != 0 {
		rd.Fail("box flags %d", flags)
	}
	if flags&1 != 0 {
		chain = rd.Fixed(36)
	}
	n := rd.Uvarint(state.MaxEpochBundle)
	for i := uint64(0); i < n && rd.Err() == nil; i++ {
		secrets = append(secrets, rd.Fixed32())
	}
	history = make([]bool, len(secrets))
	if flags&2 != 0 && rd.Err() == nil {
		bits := rd.Fixed((len(secrets) + 7) / 8)
		any := false
		for i := range bits {
			for j := range 8 {
				set := bits[i]&(1<<j) != 0
				if k := 8*i + j; k < len(secrets) {
					history[k], any = set, any || set
				} else if set {
					rd.Fail("box history bit past the secrets")
				}
			}
		}
		if !any {
			rd.Fail("box history flag without a bit")
		}
	}
	return chain, secrets, history, rd.Done()
}

// noteHolders records, from a counting author's chain-key event, which
// devices hold which epochs: the author every epoch it hands out, each
// recipient the epochs named on its box.
func (r *Replica) noteHolders(author keys.Public, k *state.ChainKeys) {
	for _, b := range k.Boxes {
		for _, id := range b.Epochs {
			r.addHolder(id, author) // the author holds what it hands out, whoever the box is for
		}
		if r.state.Device(b.Recipient) == nil && b.Recipient != r.device.Public() {
			continue // not a device of the group (yet): the box reaches no one who reads here
		}
		for _, id := range b.Epochs {
			r.addHolder(id, b.Recipient)
		}
	}
}

// noteUnopened remembers a metadata entry sealed in an epoch this replica
// does not hold yet.
func (r *Replica) noteUnopened(e *feed.Entry) {
	var id group.EpochID
	copy(id[:], e.Payload)
	if r.unopenedN >= MaxUnopened || r.unopenedBy[e.Author] >= maxUnopenedPerDevice {
		return
	}
	r.setUnopened(id, append(r.unopened[id], pos{e.Author, e.Seq}))
}

// reopen reads the metadata entries that waited for the epochs in ids, and
// applies them as if they had just arrived — in one rebuild of the state:
// a new member may read a thousand events at once.
func (r *Replica) reopen(ids []group.EpochID, lk feed.Lookup) {
	var ops []*state.Op
	type keyEntry struct {
		e *feed.Entry
		k *state.ChainKeys
	}
	var keyEntries []keyEntry
	for _, id := range ids {
		ps := r.unopened[id]
		if len(ps) == 0 {
			continue
		}
		r.setUnopened(id, nil)
		for _, p := range ps {
			e := r.storedEntry(p, lk)
			if e == nil {
				continue
			}
			ev, err := r.openMetadata(e)
			switch {
			case err != nil || ev.Announce != nil:
			case ev.Update != nil:
				r.takeKeyUpdate(e, ev.Update)
			case ev.Keys != nil:
				keyEntries = append(keyEntries, keyEntry{e, ev.Keys})
			default:
				ops = append(ops, &state.Op{Author: e.Author, Seq: e.Seq, Lamport: e.Lamport, ID: e.ID, Event: ev})
			}
		}
	}
	before := r.counting()
	r.state.ApplyBatch(ops)
	r.noteJoined(before)
	for _, o := range ops {
		if o.Event.Profile != nil || o.Event.Succeeded != nil {
			if m := r.state.MemberOf(o.Author); m != nil {
				r.rd.Events = append(r.rd.Events, Event{Kind: opEventKind(o.Event), Member: m.Key, Device: o.Author})
			}
		}
	}
	if len(ops) > 0 {
		r.applyCutoffs(lk)
	}
	for _, k := range keyEntries {
		r.takeChainKey(k.e, k.k, lk)
	}
	if len(ops) > 0 && len(r.deferredKeys) > 0 {
		r.retryDeferred(lk)
	}
}

// storedEntry returns the entry at p from this Ready or from storage.
func (r *Replica) storedEntry(p pos, lk feed.Lookup) *feed.Entry {
	if e := r.pendingEntry(p.dev, p.seq); e != nil {
		return e
	}
	raw, ok := lk.(RawReader)
	if !ok {
		return nil
	}
	b, found, err := raw.Raw(p.dev, p.seq)
	if err != nil || !found {
		return nil
	}
	e, err := feed.Decode(b)
	if err != nil {
		return nil
	}
	return e
}

// trustedGiver reports whether this replica takes epochs from author's
// entry at seq: a device that counts, or — for a device that cannot read
// the group yet — any device whose announce holds its signatures, and that
// is not past a cut-off. The epochs only open what is sealed in them: an
// event counts only if its author does, whoever gave the key, and this
// replica writes only in an epoch whose giver counts (current). Taking them
// from any member matters: a new member's first box may come from another
// newcomer, and the inviter may have seen that box and sent none.
func (r *Replica) trustedGiver(author keys.Public, seq uint64) bool {
	if c, cut := r.state.Cutoff(author); cut && seq > c {
		return false
	}
	if r.state.Device(author) != nil {
		return r.state.Writable(author, seq)
	}
	_, ok := r.state.Claim(author)
	return ok
}

// retryDeferred takes the chain-key events whose authors did not count when
// they arrived (a new member reads the invitation records that make them
// count only once it holds the epochs): those that count now are taken.
func (r *Replica) retryDeferred(lk feed.Lookup) {
	if r.retrying {
		return // the outer call goes round again
	}
	r.retrying = true
	defer func() { r.retrying = false }()
	for progress := true; progress && len(r.deferredKeys) > 0; {
		progress = false
		list := r.deferredKeys
		r.deferredKeys = nil
		var keep []pos
		for _, p := range list {
			if r.state.Device(p.dev) == nil || !r.state.Writable(p.dev, p.seq) {
				keep = append(keep, p)
				continue
			}
			progress = true
			e := r.storedEntry(p, lk)
			if e == nil {
				continue
			}
			if ev, err := r.openMetadata(e); err == nil && ev.Keys != nil {
				r.takeChainKey(e, ev.Keys, lk)
			}
		}
		r.deferredKeys = append(keep, r.deferredKeys...)
		r.dirty = true
	}
}

// appendEpochs encodes the epoch part of a snapshot.
func (r *Replica) appendEpochs(b []byte) []byte {
	ids := sortedIDs(r.epochs)
	ids = slices.DeleteFunc(ids, func(id group.EpochID) bool { return id == r.zero })
	b = wire.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		h := r.epochs[id]
		b = append(b, h.Secret[:]...)
		b = wire.AppendUvarint(b, h.lamport)
		b = append(b, h.entry[:]...)
		b = append(b, h.giver[:]...)
		if h.readOnly {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	hids := sortedIDs(r.holders)
	b = wire.AppendUvarint(b, uint64(len(hids)))
	for _, id := range hids {
		b = append(b, id[:]...)
		devs := sortedKeys(r.holders[id])
		b = wire.AppendUvarint(b, uint64(len(devs)))
		for _, d := range devs {
			b = append(b, d[:]...)
		}
	}
	uids := sortedIDs(r.unopened)
	b = wire.AppendUvarint(b, uint64(len(uids)))
	for _, id := range uids {
		b = append(b, id[:]...)
		b = appendPositions(b, r.unopened[id])
	}
	return appendPositions(b, r.deferredKeys)
}

func appendPositions(b []byte, ps []pos) []byte {
	b = wire.AppendUvarint(b, uint64(len(ps)))
	for _, p := range ps {
		b = append(b, p.dev[:]...)
		b = wire.AppendUvarint(b, p.seq)
	}
	return b
}

func readPositions(rd *wire.Reader) []pos {
	n := rd.Uvarint(MaxUnopened)
	var ps []pos
	for i := uint64(0); i < n && rd.Err() == nil; i++ {
		ps = append(ps, pos{rd.Fixed32(), rd.Uvarint(feed.MaxSeq)})
	}
	return ps
}

// readEpochs decodes what appendEpochs wrote.
func (r *Replica) readEpochs(rd *wire.Reader, withFlag bool) {
	n := rd.Uvarint(maxHolderEpochs)
	for i := uint64(0); i < n && rd.Err() == nil; i++ {
		secret := rd.Fixed32()
		lamport := rd.Uvarint(feed.MaxLamport)
		entry := feed.ID(rd.Fixed32())
		giver := keys.Public(rd.Fixed32())
		readOnly := false
		if withFlag {
			readOnly = readFlag(rd)
		}
		if rd.Err() == nil {
			r.learnEpoch(secret, lamport, entry, giver, readOnly)
		}
	}
	n = rd.Uvarint(maxHolderEpochs)
	for i := uint64(0); i < n && rd.Err() == nil; i++ {
		id := readEpochID(rd)
		var order sortedReader
		m := rd.Uvarint(maxSnapDevices)
		for j := uint64(0); j < m && rd.Err() == nil; j++ {
			r.addHolder(id, order.next(rd))
		}
	}
	n = rd.Uvarint(MaxUnopened)
	for i := uint64(0); i < n && rd.Err() == nil; i++ {
		id := readEpochID(rd)
		if ps := readPositions(rd); len(ps) > 0 {
			r.setUnopened(id, ps)
		}
	}
	r.deferredKeys = readPositions(rd)
}

// sortedIDs returns the keys of m, sorted: snapshots list epochs in order.
func sortedIDs[V any](m map[group.EpochID]V) []group.EpochID {
	ids := make([]group.EpochID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b group.EpochID) int { return bytes.Compare(a[:], b[:]) })
	return ids
}

func readEpochID(rd *wire.Reader) group.EpochID {
	var id group.EpochID
	copy(id[:], rd.Fixed(group.EpochIDSize))
	return id
}

// SealedWhereCut reports whether the metadata entry (author, seq) is sealed
// in an epoch that a device cut off since (revoked, removed) held — or in
// epoch 0, or one whose holders this replica does not know: such a device
// may have read it. An entry not stored here gives false.
func (r *Replica) SealedWhereCut(author keys.Public, seq uint64, lk feed.Lookup) bool {
	e := r.storedEntry(pos{author, seq}, lk)
	if e == nil || e.Kind != feed.KindMetadata || len(e.Payload) < group.EpochIDSize {
		return false
	}
	var id group.EpochID
	copy(id[:], e.Payload[:group.EpochIDSize])
	hs, known := r.holders[id]
	if id == r.zero || !known {
		return true // anyone may hold it
	}
	for d := range hs {
		if _, cut := r.state.Cutoff(d); cut {
			return true
		}
	}
	return false
}
