package feed

import (
	"errors"
	"fmt"
	"sort"

	"github.com/berty-go/berty/core/keys"
)

// Head is the newest entry of one feed a replica has.
type Head struct {
	Seq     uint64
	ID      ID
	Lamport uint64
}

// Lookup reads entries the replica has already stored. It is the only way the
// tracker reads storage, in the manner of raft's Storage interface: reads
// come in through it, writes go out through the caller.
type Lookup interface {
	// Entry returns the ID and Lamport clock of the stored entry at
	// (device, seq), and false if there is none.
	Entry(device keys.Public, seq uint64) (Head, bool, error)
}

// Outcome says what Offer decided for an entry.
type Outcome int

const (
	// Ready: the entry extends its feed and all its dependencies are
	// present. The caller validates its content, then calls Append.
	Ready Outcome = iota
	// Held: a predecessor or dependency is missing; the tracker keeps the
	// entry (bounded) and gives it back from Released once it is ready.
	Held
	// Duplicate: the replica has this entry already. Nothing to do.
	Duplicate
	// Refused: the entry can never be appended (see the returned error).
	Refused
)

// Errors wrapped in Offer's error for refused entries.
var (
	ErrEquivocation = errors.New("equivocation: two entries at one position")
	ErrCutOff       = errors.New("entry past its device's cut-off (member removed or device frozen)")
	ErrHeldFull     = errors.New("too many entries waiting for predecessors")
	// ErrLamport: the entry's clock is not exactly one more than the
	// highest clock among its predecessor and dependencies (§4.3). A clock
	// set higher would let one entry exhaust the group's clock space; one
	// set lower would backdate the entry before what its author had seen.
	ErrLamport = errors.New("lamport clock is not 1 + the highest of its predecessor and dependencies")
	// ErrUnauthenticated: an unsigned entry that contradicts what the
	// replica holds. Anyone with the replication key can forge one, so it
	// is no evidence of equivocation; it is dropped.
	ErrUnauthenticated = errors.New("unsigned entry contradicts an authenticated one")
)

// UnknownDepSlack bounds how far above the clocks it can check an entry's
// clock may be when some of its dependencies are entries this replica will
// never hold (past a frozen or removed device's cut-off, §4.3). Each such
// entry can push the group's clock up by at most this much: exhausting
// MaxLamport would take 2^42 of them.
const UnknownDepSlack = 1 << 20

// DefaultMaxHeld bounds the entries a Tracker keeps while their predecessors
// are missing. An entry beyond it is dropped and comes back by sync.
const DefaultMaxHeld = 4096

// MaxHeldBytes bounds the encoded size of held entries, whatever their
// number: 4 096 entries of the maximum size would pin 280 MB per group.
const MaxHeldBytes = 16 << 20

// Equivocation is the evidence that a device signed two entries at one seq.
type Equivocation struct {
	Device keys.Public
	Seq    uint64
	A, B   ID
}

type pos struct {
	dev keys.Public
	seq uint64
}

// Tracker is a replica's view of one group's feeds. It is not safe for
// concurrent use; one goroutine (the replica's owner) drives it.
type Tracker struct {
	heads   map[keys.Public]Head
	limit   map[keys.Public]uint64 // frozen or cut-off devices: highest acceptable seq
	changed map[keys.Public]bool   // feeds advanced since our own last entry

	maxHeld int
	held    map[pos]*Entry
	heldB   int // encoded bytes of held entries
	// authed holds held unsigned entries that a signed successor chains
	// back to (§4.5): they may be appended like signed ones.
	authed  map[ID]bool
	waiting map[keys.Public]map[pos]bool // device → held entries that depend on it
	release []*Entry

	// recent remembers the IDs of each feed's last recentIDs entries, so
	// that duplicates — common: gossip and sync both deliver — are told
	// apart from equivocations without reading storage.
	recent map[keys.Public]*[recentIDs]recentID
}

// recentIDs is how many recent entry IDs the tracker keeps per feed.
const recentIDs = 128

type recentID struct {
	seq     uint64
	id      ID
	lamport uint64
}

// NewTracker returns an empty tracker that holds at most maxHeld entries
// (DefaultMaxHeld if zero).
func NewTracker(maxHeld int) *Tracker {
	if maxHeld <= 0 {
		maxHeld = DefaultMaxHeld
	}
	return &Tracker{
		heads:   map[keys.Public]Head{},
		limit:   map[keys.Public]uint64{},
		changed: map[keys.Public]bool{},
		maxHeld: maxHeld,
		held:    map[pos]*Entry{},
		authed:  map[ID]bool{},
		recent:  map[keys.Public]*[recentIDs]recentID{},
		waiting: map[keys.Public]map[pos]bool{},
	}
}

// Head returns the head of device's feed (zero Seq if none).
func (t *Tracker) Head(device keys.Public) Head { return t.heads[device] }

// Vector returns the version vector {device → highest seq}, a fresh map.
func (t *Tracker) Vector() map[keys.Public]uint64 {
	v := make(map[keys.Public]uint64, len(t.heads))
	for d, h := range t.heads {
		v[d] = h.Seq
	}
	return v
}

// Heads returns a copy of all heads.
func (t *Tracker) Heads() map[keys.Public]Head {
	m := make(map[keys.Public]Head, len(t.heads))
	for d, h := range t.heads {
		m[d] = h
	}
	return m
}

// Limits returns the frozen or cut-off devices with their last acceptable seq.
func (t *Tracker) Limits() map[keys.Public]uint64 {
	m := make(map[keys.Public]uint64, len(t.limit))
	for d, s := range t.limit {
		m[d] = s
	}
	return m
}

// HeldCount returns how many entries wait for predecessors.
func (t *Tracker) HeldCount() int { return len(t.held) }

// Restore sets the tracker to a persisted state (heads and limits).
func (t *Tracker) Restore(heads map[keys.Public]Head, limits map[keys.Public]uint64) {
	for d, h := range heads {
		t.heads[d] = h
	}
	for d, s := range limits {
		t.limit[d] = s
	}
}

// Known reports whether e is an entry the tracker has already: its feed's
// head or one of its recent entries, a held entry that Offer would call a
// duplicate, or (with lk) a stored entry further back. Such a copy is
// dropped without checking its signature (the ID is the hash of the signed
// content), so that replaying known entries costs a peer as much as it
// costs us. false means "not known", not "new": Offer decides.
func (t *Tracker) Known(e *Entry, lk Lookup) bool {
	h := t.heads[e.Author]
	switch {
	case h.Seq > 0 && e.Seq == h.Seq:
		return e.ID == h.ID
	case e.Seq < h.Seq:
		if r := t.recent[e.Author]; r != nil && r[e.Seq%recentIDs].seq == e.Seq {
			return r[e.Seq%recentIDs].id == e.ID
		}
		if lk == nil {
			return false
		}
		stored, ok, err := lk.Entry(e.Author, e.Seq)
		return err == nil && ok && stored.ID == e.ID
	}
	other, ok := t.held[pos{e.Author, e.Seq}]
	return ok && other.ID == e.ID && (other.Signed || !e.Signed)
}

// Offer classifies a verified entry. For Refused it returns why, and for an
// equivocation the evidence as well (the caller then calls Freeze).
func (t *Tracker) Offer(e *Entry, lk Lookup) (Outcome, *Equivocation, error) {
	if lim, ok := t.limit[e.Author]; ok && e.Seq > lim {
		return Refused, nil, ErrCutOff
	}
	h := t.heads[e.Author]
	if e.Seq <= h.Seq {
		id := h.ID
		if r := t.recent[e.Author]; e.Seq < h.Seq && r != nil && r[e.Seq%recentIDs].seq == e.Seq {
			id = r[e.Seq%recentIDs].id // a recent entry: no need to read storage
		} else if e.Seq < h.Seq {
			stored, ok, err := lk.Entry(e.Author, e.Seq)
			if err != nil {
				return Refused, nil, fmt.Errorf("look up stored entry: %w", err)
			}
			if !ok {
				return Refused, nil, fmt.Errorf("stored feed has a gap at seq %d", e.Seq)
			}
			id = stored.ID
		}
		if id == e.ID {
			return Duplicate, nil, nil
		}
		if !e.Signed {
			return Refused, nil, ErrUnauthenticated
		}
		return Refused, &Equivocation{Device: e.Author, Seq: e.Seq, A: id, B: e.ID}, ErrEquivocation
	}
	p := pos{e.Author, e.Seq}
	if other, ok := t.held[p]; ok {
		otherAuth := other.Signed || t.authed[other.ID]
		switch {
		case other.ID == e.ID && (other.Signed || !e.Signed):
			return Duplicate, nil, nil
		case other.ID == e.ID:
			t.unhold(p) // the signed copy of a held unsigned entry replaces it
		case !e.Signed:
			return Refused, nil, ErrUnauthenticated
		case !otherAuth:
			t.unhold(p) // a signed entry evicts an unauthenticated (maybe forged) one
		default:
			return Refused, &Equivocation{Device: e.Author, Seq: e.Seq, A: other.ID, B: e.ID}, ErrEquivocation
		}
	}
	if e.Seq == h.Seq+1 {
		if e.Seq > 1 && e.Prev != h.ID {
			if !e.Signed {
				return Refused, nil, ErrUnauthenticated
			}
			// The author signed another entry at seq-1 than ours.
			return Refused, &Equivocation{Device: e.Author, Seq: h.Seq, A: h.ID, B: e.Prev}, ErrEquivocation
		}
		if (e.Signed || t.authed[e.ID]) && t.depsMet(e) {
			if err := t.checkClock(e, h, lk); err != nil {
				return Refused, nil, err
			}
			return Ready, nil, nil
		}
	}
	if len(t.held) >= t.maxHeld || t.heldB+len(e.Encoded) > MaxHeldBytes {
		return Refused, nil, ErrHeldFull
	}
	t.held[p] = e
	t.heldB += len(e.Encoded)
	for _, d := range e.Deps {
		if !t.depMet(d) {
			w := t.waiting[d.Device]
			if w == nil {
				w = map[pos]bool{}
				t.waiting[d.Device] = w
			}
			w[p] = true
		}
	}
	t.authenticate(e.Author, e.Seq)
	return Held, nil, nil
}

// authenticate marks held unsigned entries of dev at and below seq that a
// signed (or already authenticated) held successor chains back to through
// prev links (§4.5). An unsigned entry whose ID is not its successor's prev
// is a forgery (or another branch) and is dropped. When the entry after the
// head becomes authentic, it is released.
func (t *Tracker) authenticate(dev keys.Public, seq uint64) {
	head := t.heads[dev].Seq
	j := seq
	for {
		x, ok := t.held[pos{dev, j}]
		if !ok {
			return // no anchor yet
		}
		if x.Signed || t.authed[x.ID] {
			break
		}
		j++
	}
	cur := t.held[pos{dev, j}]
	for i := j - 1; i > head; i-- {
		x, ok := t.held[pos{dev, i}]
		if !ok {
			break
		}
		if x.ID != cur.Prev {
			t.unhold(pos{dev, i})
			break
		}
		if x.Signed || t.authed[x.ID] {
			break // already anchored from here down
		}
		t.authed[x.ID] = true
		cur = x
	}
	if x, ok := t.held[pos{dev, head + 1}]; ok && (x.Signed || t.authed[x.ID]) && t.depsMet(x) {
		t.unhold(pos{dev, head + 1})
		t.release = append(t.release, x)
	}
}

// checkClock enforces the clock rule (§4.2) on an entry whose predecessor
// (head h) and dependencies are all present: its Lamport clock must be
// exactly 1 + the highest clock among them. A dependency on a frozen or
// cut-off device is not checked: past the limit it is an entry this
// replica will never hold, and within it, the device may have signed two
// entries at that position (equivocation), so that the writer saw another
// clock there than this replica holds — counting it would refuse honest
// entries on some replicas and not others. The clock may then exceed the
// checked bound by at most UnknownDepSlack.
func (t *Tracker) checkClock(e *Entry, h Head, lk Lookup) error {
	var floor uint64
	if e.Seq > 1 {
		floor = h.Lamport
	}
	unknown := false
	for _, d := range e.Deps {
		if _, limited := t.limit[d.Device]; limited {
			unknown = true
			continue
		}
		l, ok, err := t.lamportAt(d, lk)
		if err != nil {
			return err
		}
		if !ok {
			unknown = true
			continue
		}
		floor = max(floor, l)
	}
	switch {
	case e.Lamport == floor+1:
		return nil
	case unknown && e.Lamport > floor && e.Lamport-floor <= UnknownDepSlack:
		return nil
	}
	return fmt.Errorf("%w: clock %d, want %d", ErrLamport, e.Lamport, floor+1)
}

// lamportAt returns the clock of the dependency's entry, false if the replica
// does not hold it (a frozen device past its limit).
func (t *Tracker) lamportAt(d Dep, lk Lookup) (uint64, bool, error) {
	h, ok := t.heads[d.Device]
	switch {
	case ok && d.Seq == h.Seq:
		return h.Lamport, true, nil
	case !ok || d.Seq > h.Seq || d.Seq == 0:
		return 0, false, nil
	}
	if r := t.recent[d.Device]; r != nil && r[d.Seq%recentIDs].seq == d.Seq {
		return r[d.Seq%recentIDs].lamport, true, nil
	}
	if lk == nil {
		return 0, false, fmt.Errorf("no storage to look up dependency %d", d.Seq)
	}
	stored, ok, err := lk.Entry(d.Device, d.Seq)
	if err != nil {
		return 0, false, fmt.Errorf("look up dependency: %w", err)
	}
	if !ok {
		return 0, false, nil
	}
	return stored.Lamport, true, nil
}

func (t *Tracker) depMet(d Dep) bool {
	if _, ok := t.limit[d.Device]; ok {
		return true // a frozen or removed device will not be waited for
	}
	return t.heads[d.Device].Seq >= d.Seq
}

func (t *Tracker) depsMet(e *Entry) bool {
	for _, d := range e.Deps {
		if !t.depMet(d) {
			return false
		}
	}
	return true
}

// Append records e, which Offer returned as Ready and the caller accepted, as
// the new head of its feed, and queues held entries it unblocks.
func (t *Tracker) Append(e *Entry) {
	delete(t.authed, e.ID)
	t.heads[e.Author] = Head{Seq: e.Seq, ID: e.ID, Lamport: e.Lamport}
	r := t.recent[e.Author]
	if r == nil {
		r = new([recentIDs]recentID)
		t.recent[e.Author] = r
	}
	r[e.Seq%recentIDs] = recentID{seq: e.Seq, id: e.ID, lamport: e.Lamport}
	t.changed[e.Author] = true
	t.wake(e.Author)
}

func (t *Tracker) wake(dev keys.Public) {
	next := pos{dev, t.heads[dev].Seq + 1}
	if e, ok := t.held[next]; ok && (e.Signed || t.authed[e.ID]) {
		t.unhold(next)
		t.release = append(t.release, e)
	}
	for p := range t.waiting[dev] {
		if e, ok := t.held[p]; ok && (e.Signed || t.authed[e.ID]) && t.depsMet(e) && p.seq == t.heads[p.dev].Seq+1 {
			t.unhold(p)
			t.release = append(t.release, e)
		}
	}
}

func (t *Tracker) unhold(p pos) {
	e := t.held[p]
	delete(t.held, p)
	t.heldB -= len(e.Encoded)
	for _, d := range e.Deps {
		if w := t.waiting[d.Device]; w != nil {
			delete(w, p)
			if len(w) == 0 {
				delete(t.waiting, d.Device)
			}
		}
	}
}

// Released returns (and forgets) held entries that Append or Freeze made
// possibly ready. The caller offers each again.
func (t *Tracker) Released() []*Entry {
	r := t.release
	t.release = nil
	return r
}

// Freeze stops device's feed at seq: later entries are refused, held ones are
// dropped, and entries depending on it no longer wait for it. It is used for
// equivocation (seq = current head) and member removal (seq = the cut-off).
// A lower limit replaces a higher one.
func (t *Tracker) Freeze(device keys.Public, seq uint64) {
	if old, ok := t.limit[device]; ok && old <= seq {
		return
	}
	t.limit[device] = seq
	for p, e := range t.held {
		if p.dev == device && p.seq > seq {
			t.unhold(p)
			delete(t.authed, e.ID)
		}
	}
	// Entries already stored beyond seq are the caller's to delete; it then
	// resets the head through Truncate.
	t.wake(device)
}

// SetLimit replaces device's limit, up or down; Unfreeze removes it. They
// serve a removal that stops counting (§5.3): the device's later entries are
// accepted again and come back by sync.
func (t *Tracker) SetLimit(device keys.Public, seq uint64) { t.limit[device] = seq }

// Unfreeze removes device's limit.
func (t *Tracker) Unfreeze(device keys.Public) { delete(t.limit, device) }

// Truncate resets device's head after entries beyond it were deleted.
func (t *Tracker) Truncate(device keys.Public, head Head) {
	if head.Seq == 0 {
		delete(t.heads, device)
		delete(t.changed, device) // nothing of it left to depend on
		return
	}
	t.heads[device] = head
}

// Limit reports whether device is frozen or cut off, and at which seq.
func (t *Tracker) Limit(device keys.Public) (uint64, bool) {
	s, ok := t.limit[device]
	return s, ok
}

// NextLocal returns the seq, prev, lamport and deps for the next entry of the
// local device: deps name every other feed that advanced since the device's
// previous entry, sorted by device, and lamport is 1 + the highest clock of
// the previous entry and the deps, as the clock rule demands (§4.3). Call
// Append with the signed entry after.
func (t *Tracker) NextLocal(self keys.Public) (seq uint64, prev ID, lamport uint64, deps []Dep) {
	h := t.heads[self]
	for d := range t.changed {
		if s := t.heads[d].Seq; d != self && s > 0 {
			deps = append(deps, Dep{Device: d, Seq: s})
		}
	}
	sort.Slice(deps, func(i, j int) bool { return less(deps[i].Device, deps[j].Device) })
	if len(deps) > MaxDeps {
		// Keep the most recent by lamport; older ones are implied by causality
		// only approximately, which the protocol tolerates (§4.2).
		sort.Slice(deps, func(i, j int) bool {
			return t.heads[deps[i].Device].Lamport > t.heads[deps[j].Device].Lamport
		})
		deps = deps[:MaxDeps]
		sort.Slice(deps, func(i, j int) bool { return less(deps[i].Device, deps[j].Device) })
	}
	lamport = h.Lamport
	for _, d := range deps {
		lamport = max(lamport, t.heads[d.Device].Lamport)
	}
	return h.Seq + 1, h.ID, lamport + 1, deps
}

// ClearChanged forgets which feeds advanced; called after a local append.
func (t *Tracker) ClearChanged() { clear(t.changed) }

// Changed returns the feeds that advanced since the local device's last
// entry, sorted: part of a replica's snapshot, so that the next entry after
// a restart still depends on what the device had seen.
func (t *Tracker) Changed() []keys.Public {
	out := make([]keys.Public, 0, len(t.changed))
	for d := range t.changed {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return less(out[i], out[j]) })
	return out
}

// MarkChanged records that a feed advanced (restoring a snapshot).
func (t *Tracker) MarkChanged(d keys.Public) { t.changed[d] = true }
