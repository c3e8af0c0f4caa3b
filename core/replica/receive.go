package replica

import (
	"encoding/binary"
	"errors"
	"slices"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/ratchet"
	"github.com/berty-go/berty/core/state"
)

// Outcome of Receive for one entry.
type Outcome = feed.Outcome

// Receive verifies and ingests one encoded entry from the network (§7.2). It
// returns what happened to it; a Refused entry comes with an error saying why
// and changes nothing. Entries released from the hold by this one are
// ingested too. Nothing of a refused entry is stored.
func (r *Replica) Receive(raw []byte, lk feed.Lookup) (Outcome, error) {
	e, err := feed.Decode(raw)
	if err != nil {
		return feed.Refused, err
	}
	return r.ReceiveEntry(e, lk)
}

// ReceiveEntry is Receive for an entry already decoded (by a batch decoder
// or a pubsub validator). It is verified here all the same.
func (r *Replica) ReceiveEntry(e *feed.Entry, lk feed.Lookup) (Outcome, error) {
	if err := r.Verify(e); err != nil {
		return feed.Refused, err
	}
	return r.ReceiveVerified(e, lk)
}

// Verify checks that e belongs to this group and is signed by its author
// (§4.1). It reads only immutable group keys: callers may run it on many
// entries in parallel, then pass them to ReceiveVerified in order.
func (r *Replica) Verify(e *feed.Entry) error {
	return e.Verify(&r.g.Keys.Topic, &r.g.Keys.Replication)
}

// Known reports whether e is an entry the replica has already
// (feed.Tracker.Known): a copy it can drop without verifying it.
func (r *Replica) Known(e *feed.Entry, lk feed.Lookup) bool { return r.tracker.Known(e, lk) }

// ReceiveVerified ingests an entry that Verify accepted. Passing an entry
// that was not verified breaks the protocol's guarantees.
func (r *Replica) ReceiveVerified(e *feed.Entry, lk feed.Lookup) (Outcome, error) {
	out, err := r.offer(e, lk)
	if out == feed.Ready {
		if err := r.accept(e, lk); err != nil {
			return feed.Refused, err
		}
	}
	if out == feed.Refused || out == feed.Duplicate {
		return out, err
	}
	// Entries released from the hold — by this one's append, or, when this
	// one is a signed tail that authenticated held entries before it (§4.5),
	// by its mere arrival — are offered again: a cut-off may have intervened.
	for queue := r.tracker.Released(); len(queue) > 0; queue = append(queue[1:], r.tracker.Released()...) {
		x := queue[0]
		if o, _ := r.offer(x, lk); o == feed.Ready {
			_ = r.accept(x, lk) // a released entry that fails its content check is dropped
		}
	}
	if err := r.maintain(lk); err != nil {
		return out, err
	}
	return out, nil
}

func (r *Replica) offer(e *feed.Entry, lk feed.Lookup) (Outcome, error) {
	out, eq, err := r.tracker.Offer(e, lk)
	if eq != nil {
		head := r.tracker.Head(eq.Device)
		r.tracker.Freeze(eq.Device, head.Seq)
		r.equivocated[eq.Device] = true
		r.rd.Events = append(r.rd.Events, Event{Kind: EventEquivocation, Device: eq.Device, Seq: eq.Seq, Equivocation: eq})
		r.dirty = true
	}
	return out, err
}

// accept validates a Ready entry's content, appends it and applies it.
func (r *Replica) accept(e *feed.Entry, lk feed.Lookup) error {
	var ev *state.Event
	if e.Kind == feed.KindMetadata {
		var err error
		ev, err = r.openMetadata(e)
		if e.Seq == 1 {
			if err != nil || ev.Announce == nil || !state.CheckAnnounce(r.g, e.Author, ev.Announce) {
				return ErrBadAnnounce
			}
		} else if errors.Is(err, errUnknownEpoch) {
			// Sealed in an epoch this replica does not hold yet (a new
			// member before its history arrives): read when it does.
			ev = nil
			r.noteUnopened(e)
		} else if err != nil || ev.Announce != nil {
			// A member wrote something this version cannot read, or a
			// second announce: the entry stays in the feed (the chain must
			// not break) but means nothing here.
			ev = nil
		}
	}
	r.tracker.Append(e)
	r.rd.Entries = append(r.rd.Entries, e)
	r.dirty = true
	if e.Author == r.device.Public() {
		return nil // our own entry coming back from the network after a restore
	}
	r.noteSeen(e)
	switch {
	case ev != nil && ev.Update != nil:
		r.takeKeyUpdate(e, ev.Update)
	case ev != nil && ev.Keys != nil:
		r.takeChainKey(e, ev.Keys, lk)
	case ev != nil:
		r.applyOp(e, ev, lk)
	case e.Kind == feed.KindMessage:
		r.openMessage(e)
	}
	return nil
}

func (r *Replica) applyOp(e *feed.Entry, ev *state.Event, lk feed.Lookup) {
	r.applyState(&state.Op{Author: e.Author, Seq: e.Seq, Lamport: e.Lamport, ID: e.ID, Event: ev})
	if ev.Profile != nil || ev.Succeeded != nil {
		if m := r.state.MemberOf(e.Author); m != nil {
			r.rd.Events = append(r.rd.Events, Event{Kind: opEventKind(ev), Member: m.Key, Device: e.Author})
		}
	}
	r.applyCutoffs(lk)
	if len(r.deferredKeys) > 0 {
		r.retryDeferred(lk) // the op may make a deferred author count
	}
}

// applyState applies a membership op, reporting the members it lets in
// (an announce, or an admin's admission, §5.5; this device's own included).
func (r *Replica) applyState(op *state.Op) {
	if op.Event.Announce == nil && op.Event.Decision == nil {
		r.state.Apply(op)
		return
	}
	before := r.counting()
	r.state.Apply(op)
	r.noteJoined(before)
}

// counting returns the members that count now: current, with a device.
func (r *Replica) counting() map[keys.Public]bool {
	out := map[keys.Public]bool{}
	for _, m := range r.state.Members() {
		if !m.Removed && len(m.Devices) > 0 {
			out[m.Key] = true
		}
	}
	return out
}

// noteJoined reports the members that count now and did not before: by
// their announce, an admin's admission (§5.5), or — for this device's own
// member — the history it could read once let in.
func (r *Replica) noteJoined(before map[keys.Public]bool) {
	for _, m := range r.state.Members() {
		if !m.Removed && len(m.Devices) > 0 && !before[m.Key] {
			r.rd.Events = append(r.rd.Events, Event{Kind: EventMemberJoined, Member: m.Key, Device: m.Devices[0]})
		}
	}
}

// applyCutoffs freezes removed members' devices at their cut-offs, asks the
// caller to delete entries past them, and schedules a new epoch.
func (r *Replica) applyCutoffs(lk feed.Lookup) {
	for _, m := range r.state.Members() {
		if !m.Removed || r.removed[m.Key] {
			continue
		}
		r.removed[m.Key] = true
		r.rotate = true
		r.rd.Events = append(r.rd.Events, Event{Kind: EventMemberRemoved, Member: m.Key})
	}
	for _, m := range r.state.Members() {
		for d := range m.Revoked {
			if r.revoked[d] {
				continue
			}
			r.revoked[d] = true
			r.rotate = true // the remaining devices stop sharing chains with it
			r.rd.Events = append(r.rd.Events, Event{Kind: EventDeviceRevoked, Member: m.Key, Device: d})
		}
	}
	cuts := r.state.Cutoffs()
	for d, lim := range r.tracker.Limits() {
		// A removal that stopped counting (its author was cut off before
		// it) lifts or raises cut-offs: accept the device's entries again;
		// what was deleted comes back by sync. The device's chain was kept
		// for that. Equivocators stay frozen.
		if r.equivocated[d] {
			continue
		}
		if c, ok := cuts[d]; !ok {
			r.tracker.Unfreeze(d)
		} else if c > lim {
			r.tracker.SetLimit(d, c)
		}
	}
	for d, c := range cuts {
		delete(r.given, d)
		if lim, ok := r.tracker.Limit(d); ok && lim <= c {
			continue
		}
		r.tracker.Freeze(d, c)
		if r.tracker.Head(d).Seq <= c {
			continue
		}
		h, ok, err := lk.Entry(d, c)
		if c > 0 && (!ok || err != nil) {
			h = feed.Head{Seq: c}
			if x := r.pendingEntry(d, c); x != nil { // ingested in this same Ready: not stored yet
				h = feed.Head{Seq: c, ID: x.ID, Lamport: x.Lamport}
			}
		}
		r.tracker.Truncate(d, h)
		r.rd.Truncations = append(r.rd.Truncations, Truncation{Device: d, After: c})
		r.dropPending(d, c)
	}
}

// dropPending removes from the current Ready what a truncation undoes.
func (r *Replica) dropPending(d keys.Public, after uint64) {
	es := r.rd.Entries[:0]
	for _, e := range r.rd.Entries {
		if e.Author != d || e.Seq <= after {
			es = append(es, e)
		}
	}
	r.rd.Entries = es
	ms := r.rd.Messages[:0]
	for _, m := range r.rd.Messages {
		if m.Author != d || m.Seq <= after {
			ms = append(ms, m)
		}
	}
	r.rd.Messages = ms
}

// RawReader is implemented by lookups that can return a stored entry's
// encoding. With it, a chain key that arrives after messages it covers opens
// them (§6.3); the node's lookup implements it.
type RawReader interface {
	Raw(device keys.Public, seq uint64) ([]byte, bool, error)
}

// MaxUndecrypted bounds the messages a replica remembers as not yet
// decryptable, waiting for a chain key; beyond it the oldest are forgotten.
const MaxUndecrypted = 4096

func (r *Replica) takeChainKey(e *feed.Entry, k *state.ChainKeys, lk feed.Lookup) {
	self := r.device.Public()
	counts := r.state.Device(e.Author) != nil && r.state.Writable(e.Author, e.Seq)
	if counts {
		// Who holds which epoch, from devices that count only: anyone else
		// could list made-up holders to taint every epoch, or millions of
		// them to bloat the snapshot.
		r.noteHolders(e.Author, k)
	} else {
		// The author may count once this replica reads more of the group
		// (a new member, before its history): keep the event for then.
		if slices.ContainsFunc(k.Boxes, func(b state.Box) bool { return b.Recipient == self }) &&
			!slices.Contains(r.deferredKeys, pos{e.Author, e.Seq}) && len(r.deferredKeys) < MaxUnopened {
			r.deferredKeys = append(r.deferredKeys, pos{e.Author, e.Seq})
			r.dirty = true
		}
		if !r.trustedGiver(e.Author, e.Seq) {
			return
		}
		// Its epochs let this device read the history that tells whether
		// it counts (never to write in, nor to hand on, unless it counts
		// by then: vouched). Its chain waits (§5.7).
	}
	for i := range k.Boxes {
		b := &k.Boxes[i]
		if b.Recipient != self {
			continue
		}
		pt, current, lost, err := r.openBox(k, b, chainKeyAD(&r.g.Keys.Topic, e.Author, k.Epoch))
		if err != nil {
			if lost && counts {
				r.boxLost(e.Author) // sealed to a key deleted since (§6.4)
			}
			return
		}
		r.boxOpened(current)
		chain, secrets, history, err := parseBox(pt)
		if err != nil || len(secrets) != len(b.Epochs) {
			return
		}
		var learnt []group.EpochID
		for i, secret := range secrets {
			if r.g.Epoch(secret).ID != b.Epochs[i] {
				continue // not the epoch the box names: ignored
			}
			if id, fresh := r.learnEpoch(secret, e.Lamport, e.ID, e.Author, history[i]); fresh {
				learnt = append(learnt, id)
			}
		}
		if chain != nil && counts {
			r.takeChain(e.Author, k.Epoch, chain, lk)
		}
		if len(learnt) > 0 {
			r.reopen(learnt, lk)
			r.retryDeferred(lk)
		}
		return
	}
}

func (r *Replica) takeChain(author keys.Public, epoch uint32, pt []byte, lk feed.Lookup) {
	if cur := r.recv[author]; cur != nil && cur.Epoch >= epoch {
		return
	}
	var ck [32]byte
	copy(ck[:], pt)
	rc := ratchet.NewRecv(epoch, binary.BigEndian.Uint32(pt[32:]), ck)
	rc.Window = r.cfg.Window
	r.recv[author] = rc
	r.dirty = true
	r.retry(author, lk)
}

// retry opens the messages of device that arrived before the key for them.
func (r *Replica) retry(device keys.Public, lk feed.Lookup) {
	seqs := r.undecrypted[device]
	raw, ok := lk.(RawReader)
	if len(seqs) == 0 || !ok {
		return
	}
	rc := r.recv[device]
	var keep []uint64
	for _, seq := range seqs {
		b, found, err := raw.Raw(device, seq)
		if err != nil {
			keep = append(keep, seq) // storage trouble: try again with the next key
			continue
		}
		var e *feed.Entry
		if found {
			e, err = feed.Decode(b)
		} else {
			e = r.pendingEntry(device, seq) // stored in this same Ready
		}
		if err != nil || e == nil {
			continue
		}
		if m, err := r.tryOpen(e); err == nil {
			r.rd.Messages = append(r.rd.Messages, m)
		} else if ep, _, herr := ratchet.OpenHeader(&r.g.Keys.Header, r.binding(device, seq), e.Payload); herr == nil && ep > rc.Epoch {
			keep = append(keep, seq) // for a later epoch
		}
	}
	r.setUndecrypted(device, keep)
}

func (r *Replica) pendingEntry(device keys.Public, seq uint64) *feed.Entry {
	for _, e := range r.rd.Entries {
		if e.Author == device && e.Seq == seq {
			return e
		}
	}
	return nil
}

func (r *Replica) setUndecrypted(device keys.Public, seqs []uint64) {
	if len(seqs) == 0 {
		delete(r.undecrypted, device)
	} else {
		r.undecrypted[device] = seqs
	}
	r.dirty = true
}

func (r *Replica) noteUndecrypted(device keys.Public, seq uint64) {
	total := 0
	for _, s := range r.undecrypted {
		total += len(s)
	}
	seqs := r.undecrypted[device]
	if total >= MaxUndecrypted {
		if len(seqs) == 0 {
			return
		}
		seqs = seqs[1:]
	}
	r.setUndecrypted(device, append(seqs, seq))
}

func (r *Replica) tryOpen(e *feed.Entry) (Message, error) {
	d := r.state.Device(e.Author)
	if d == nil || !r.state.Writable(e.Author, e.Seq) {
		return Message{}, ErrNotMember
	}
	rc := r.recv[e.Author]
	if rc == nil {
		return Message{}, errNoKey
	}
	body, err := ratchet.Open(rc, &r.g.Keys.Header, r.binding(e.Author, e.Seq), e.Payload)
	if err != nil {
		return Message{}, err
	}
	return Message{Author: e.Author, Member: d.Cert.Member, Seq: e.Seq, Lamport: e.Lamport, ID: e.ID, Body: body}, nil
}

var errNoKey = errors.New("no chain key from this device")

func (r *Replica) openMessage(e *feed.Entry) {
	m, err := r.tryOpen(e)
	switch {
	case err == nil:
		r.rd.Messages = append(r.rd.Messages, m)
	case errors.Is(err, ErrNotMember):
		// a device without a valid announce or past its cut-off: nothing to read
	default:
		r.noteUndecrypted(e.Author, e.Seq)
		r.rd.Events = append(r.rd.Events, Event{Kind: EventUndecryptable, Device: e.Author, Seq: e.Seq})
	}
}

// opEventKind is the event a UI gets for a profile or a key succession.
func opEventKind(ev *state.Event) EventKind {
	if ev.Succeeded != nil {
		return EventKeySucceeded
	}
	return EventProfile
}
