// Package replica is the protocol state machine of one device in one group
// (docs/protocol.md §7). It joins the pieces of the core: the feeds (package
// feed), the metadata reducer (package state) and the message ratchet
// (package ratchet).
//
// # Driving a replica
//
// A Replica is deterministic: it does no I/O, starts no goroutine, reads no
// clock and draws randomness only from the io.Reader in its Config. Inputs are
// method calls — Receive for an entry from the network, Send for a local
// message, Tick for the passing of time — and outputs accumulate in a [Ready],
// in the manner of etcd-io/raft:
//
//	r.Receive(raw, lookup)      // or Send, Remove, Tick ...
//	rd := r.Ready()
//	persist(rd)                 // entries, messages, deletions and snapshot, in one transaction
//	publish(rd.Outbox)          // only after the commit
//	r.Advance()
//
// Persisting before publishing is what keeps a crash from making a device
// reuse a sequence number or a message key: a restarted replica resumes from
// the snapshot that covers everything it ever published.
//
// A Replica is not safe for concurrent use: one goroutine owns it.
package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/ratchet"
	"github.com/berty-go/berty/core/seal"
	"github.com/berty-go/berty/core/state"
)

// Config configures a Replica. Zero values are documented per field.
type Config struct {
	Group   *group.Group
	Account *keys.Pair // the account key pair (member keys derive from it)
	Device  *keys.Pair // this device's own key pair
	Rand    io.Reader  // randomness for chain keys and nonces; required

	// RotateEvery starts a new chain after this many messages (0: 10 000).
	RotateEvery uint32
	// AgreeEvery: a device replaces its key-agreement key once it has
	// opened a box sealed to it and it is this many seconds old (0: one
	// day); AgreeKeep: it deletes a replaced key this many seconds after at
	// the latest (0: 7 days). §6.4.
	AgreeEvery, AgreeKeep int64
	// RotateAfter starts a new chain when the current one is this many
	// seconds old, checked on Tick (0: 7 days).
	RotateAfter int64
	// MaxHeld bounds entries waiting for predecessors (0: feed.DefaultMaxHeld).
	MaxHeld int
	// Window bounds skipped message keys per sender (0: ratchet.DefaultWindow).
	Window int
	// Membership is the account's membership number in a multi-member
	// group (§3.2): 0 for its first, one more each time it joins again. A
	// snapshot's own number wins over it.
	Membership uint32
	// Now is the time the replica is made or resumed at, in the caller's
	// clock (unix seconds); later times come with Tick. A chain's age for
	// RotateAfter is counted from it.
	Now int64
}

// Defaults for Config's zero values.
const (
	DefaultRotateEvery = 10_000
	DefaultRotateAfter = 7 * 24 * 3600
)

// Message is a plaintext the replica produced: one this device sent, or one it
// received and decrypted. Callers persist it with the Ready that carries it:
// its key is gone once it has been opened.
type Message struct {
	Author  keys.Public // device
	Member  keys.Public
	Seq     uint64
	Lamport uint64
	ID      feed.ID
	Own     bool
	Body    []byte
}

// Truncation asks the caller to delete a removed device's entries (and the
// messages decrypted from them) after seq: they were written concurrently
// with the removal and do not count (§5.3).
type Truncation struct {
	Device keys.Public
	After  uint64
}

// Ready is the output of a replica since the last Advance.
type Ready struct {
	// Entries to store: this device's own and verified received ones, in the
	// order they were appended.
	Entries []*feed.Entry
	// Messages to store and deliver.
	Messages []Message
	// Truncations to apply before storing Entries.
	Truncations []Truncation
	// Snapshot is the replica's new persistent state, or nil if unchanged.
	Snapshot []byte
	// Outbox holds this device's new entries, to publish after the commit.
	Outbox []*feed.Entry
	// Events tell what happened, for logs, counters and UIs.
	Events []Event
	// Erased: Snapshot no longer holds a secret the previous one held (a
	// key-agreement key, §6.4); the caller must leave no copy of the old
	// one in its files.
	Erased bool
}

// Empty reports whether there is nothing to do.
func (rd *Ready) Empty() bool {
	return len(rd.Entries) == 0 && len(rd.Messages) == 0 && len(rd.Truncations) == 0 &&
		rd.Snapshot == nil && len(rd.Events) == 0
}

// EventKind classifies replica events.
type EventKind int

// Event kinds.
const (
	EventMemberJoined EventKind = iota + 1
	EventMemberRemoved
	EventEquivocation
	EventUndecryptable // a message this device holds no key for
	EventRotated       // this device started a new chain epoch
	EventDeviceRevoked // a member's device was revoked (Member, Device)
	EventProfile       // a member set its display name (Member)
	EventRekeyed       // this device created a new epoch (§3.4)
	EventKeySucceeded  // a member moved to a new key (Member: its member key, §5.9)
)

// Event is something a UI or a log may want to know.
type Event struct {
	Kind         EventKind
	Member       keys.Public
	Device       keys.Public
	Seq          uint64
	Equivocation *feed.Equivocation
}

// Errors returned by the replica's commands and by Receive.
var (
	ErrNotMember     = errors.New("not a member of this group")
	ErrNotAdmin      = errors.New("only an admin can do this")
	ErrNotJoined     = errors.New("this device has not announced itself in the group yet")
	ErrBadAnnounce   = errors.New("first entry of a feed is not a valid device announce")
	ErrNoSuchUser    = errors.New("no such member")
	ErrNoSuchDevice  = errors.New("not a current device of this member")
	ErrRevokeSelf    = errors.New("a device cannot revoke itself: revoke it from another device")
	ErrNotApproved   = errors.New("this device waits for another device of its account to approve it in this group")
	ErrRevokedDevice = errors.New("the device was revoked")
	// ErrNotAwaiting: no join of this member waits for an admin (§5.5).
	ErrNotAwaiting = errors.New("no join of this member waits for an admin's approval (it may have been decided already, or died with its link)")
	// ErrNotMultiMember: the command exists only in multi-member groups.
	ErrNotMultiMember = errors.New("only multi-member groups have this")
	// ErrWaitingForKeys: this device announced itself but holds none of
	// the group's epochs yet, so it cannot tell whether it counts (§3.4,
	// §5.2): a member online hands them over — in a group where joins wait
	// for an admin, once an admin has admitted it (§5.5).
	ErrWaitingForKeys = errors.New("waiting for a member of the group to let this device in (hand it the group's keys; where the group's admins approve joins, once one has): try again once one is online")
)

// Replica is one device's state in one group. See the package comment.
type Replica struct {
	cfg    Config
	g      *group.Group
	member *keys.Pair // per-group member key
	device *keys.Pair // per-group device key
	// membership is the account's membership number, which the member and
	// device keys derive from (§3.2).
	membership uint32

	tracker *feed.Tracker
	state   *state.State

	send   *ratchet.Send
	recv   map[keys.Public]*ratchet.Recv
	given  map[keys.Public]uint32 // device → epoch of ours it holds
	rotate bool                   // start a new epoch at the next maintain
	// deferred: a periodic rotation of an owner group waits until every
	// owner has a known device (§6.3).
	deferred bool
	removed  map[keys.Public]bool // members seen removed, to detect new removals
	revoked  map[keys.Public]bool // devices seen revoked, likewise
	// undecrypted lists, per device, messages stored before this device held
	// a key for them; a chain key arriving later opens them (bounded).
	undecrypted map[keys.Public][]uint64
	// equivocated devices stay frozen whatever the membership says.
	equivocated map[keys.Public]bool
	now         int64

	// Epochs (epochs.go): the secrets held, who holds each, metadata
	// entries waiting for an epoch, chain-key events waiting for their
	// author to count.
	zero         group.EpochID
	epochs       map[group.EpochID]*heldEpoch
	holders      map[group.EpochID]map[keys.Public]bool
	unopened     map[group.EpochID][]pos
	unopenedBy   map[keys.Public]int // of them, per writing device
	unopenedN    int                 // of them, in all
	deferredKeys []pos
	retrying     bool // retryDeferred is running

	// Key-agreement keys (agree.go, §6.4): this device's, oldest first;
	// other devices' latest; how far each device declared it saw this
	// device's feed; devices whose box no key opened (named in the next
	// key update); devices that asked for everything again.
	own      []ownKey
	peerKeys map[keys.Public]peerKey
	seen     map[keys.Public]uint64
	lost     map[keys.Public]bool
	resend   map[keys.Public]bool
	agreeDue bool // post a key update with a new key at the next maintain
	// lostNamed: per author, the first seq of the own key under which a
	// key update named it lost (once per key). sealedTo: per device, the
	// seq of the key update this device last sealed a box to; resentAt,
	// when it last honoured a lost box of the device. givenFrom: the
	// counter of the current chain at which each device was first given
	// it (a lost box is handed again from there).
	lostNamed map[keys.Public]uint64
	sealedTo  map[keys.Public]uint64
	resentAt  map[keys.Public]int64
	givenFrom map[keys.Public]uint32

	rd    Ready
	dirty bool
}

// New returns a replica for the configured group. If snapshot is not nil the
// replica resumes from it; otherwise it is new and must Announce before it
// can write.
func New(cfg Config, snapshot []byte) (*Replica, error) {
	if cfg.Group == nil || cfg.Account == nil || cfg.Device == nil || cfg.Rand == nil {
		return nil, errors.New("replica: Group, Account, Device and Rand are required")
	}
	if cfg.RotateEvery == 0 {
		cfg.RotateEvery = DefaultRotateEvery
	}
	if cfg.RotateAfter == 0 {
		cfg.RotateAfter = DefaultRotateAfter
	}
	if cfg.AgreeEvery == 0 {
		cfg.AgreeEvery = DefaultAgreeEvery
	}
	if cfg.AgreeKeep == 0 {
		cfg.AgreeKeep = DefaultAgreeKeep
	}
	r := &Replica{
		cfg:     cfg,
		g:       cfg.Group,
		tracker: feed.NewTracker(cfg.MaxHeld),
		state:   state.New(cfg.Group),
		recv:    map[keys.Public]*ratchet.Recv{},
		given:   map[keys.Public]uint32{},
		removed: map[keys.Public]bool{},
		revoked: map[keys.Public]bool{},

		undecrypted: map[keys.Public][]uint64{},
		equivocated: map[keys.Public]bool{},
		peerKeys:    map[keys.Public]peerKey{},
		seen:        map[keys.Public]uint64{},
		lost:        map[keys.Public]bool{},
		resend:      map[keys.Public]bool{},
		lostNamed:   map[keys.Public]uint64{},
		sealedTo:    map[keys.Public]uint64{},
		resentAt:    map[keys.Public]int64{},
		givenFrom:   map[keys.Public]uint32{},
	}
	r.initEpochs()
	r.setMembership(cfg.Membership)
	if snapshot != nil {
		if err := r.restore(snapshot); err != nil {
			return nil, fmt.Errorf("restore group %s: %w", cfg.Group.Fingerprint(), err)
		}
	}
	r.now = max(r.now, cfg.Now)
	return r, nil
}

// Group returns the group.
func (r *Replica) Group() *group.Group { return r.g }

func (r *Replica) setMembership(k uint32) {
	r.membership = k
	r.member, r.device = r.g.MemberKeysAt(r.cfg.Account, r.cfg.Device, k)
}

// Membership returns the account's membership number in the group (§3.2).
func (r *Replica) Membership() uint32 { return r.membership }

// ErrNotOver: Rejoin while the current membership still runs.
var ErrNotOver = errors.New("this membership of the group is not over: only a member who left or was removed can join again")

// Rejoin starts membership k of the account in a multi-member group, after
// it left or was removed (§3.2): this device takes the member and device
// keys of membership k, and must announce itself again (with an
// invitation, or with a member proof to follow a sibling that rejoined)
// before it can write. Everything stored stays: the group's feeds and
// history, and the epochs this device held (all tainted by its cut-off, so
// it never writes in them). Its own chain starts again with its new key.
// k must be larger than the current membership, and that membership over
// here: this device's member removed, or never let in.
func (r *Replica) Rejoin(k uint32) error {
	if r.g.Kind != group.KindMulti {
		return ErrNotMultiMember
	}
	if k <= r.membership {
		return fmt.Errorf("rejoin as membership %d: this device is at %d already", k, r.membership)
	}
	if me := r.state.Member(r.member.Public()); me != nil && !me.Removed {
		return ErrNotOver
	}
	r.setMembership(k)
	r.send, r.rotate, r.deferred = nil, false, false
	clear(r.given)
	// The keys of the old membership's device open nothing sealed to the
	// new one: deleted; the announce draws a new key.
	r.own, r.agreeDue = nil, false
	r.rd.Erased = true
	for _, m := range []map[keys.Public]bool{r.lost, r.resend} {
		clear(m)
	}
	for _, m := range []map[keys.Public]uint64{r.seen, r.lostNamed, r.sealedTo} {
		clear(m)
	}
	clear(r.resentAt)
	clear(r.givenFrom)
	r.dirty = true
	return nil
}

// State returns the group's metadata state. Callers must not modify it.
func (r *Replica) State() *state.State { return r.state }

// DeviceKey returns this device's key in the group.
func (r *Replica) DeviceKey() keys.Public { return r.device.Public() }

// MemberKey returns this account's member key in the group.
func (r *Replica) MemberKey() keys.Public { return r.member.Public() }

// Vector returns the version vector.
func (r *Replica) Vector() map[keys.Public]uint64 { return r.tracker.Vector() }

// Heads returns the head of every feed.
func (r *Replica) Heads() map[keys.Public]feed.Head { return r.tracker.Heads() }

// Held returns how many received entries wait for predecessors.
func (r *Replica) Held() int { return r.tracker.HeldCount() }

// Joined reports whether this device has announced itself.
func (r *Replica) Joined() bool { return r.tracker.Head(r.device.Public()).Seq > 0 }

// Epoch returns this device's current chain epoch (0 before the first).
func (r *Replica) Epoch() uint32 {
	if r.send == nil {
		return 0
	}
	return r.send.Epoch
}

// Ready returns the output accumulated since the last Advance. The snapshot
// is encoded here, once per Ready, however many inputs came before, and the
// last of this device's new entries is signed here: one signature per batch,
// the hash chain authenticating the entries before it (§4.5). Every feed head
// a device publishes is therefore signed.
func (r *Replica) Ready() Ready {
	for i, e := range r.rd.Outbox {
		// The last entry of the batch is signed (§4.5), and so is an
		// announce: a device shows its announce alone to be let into a
		// sync (§10.2), and its key update follows it in the same batch.
		if e.Signed || (i != len(r.rd.Outbox)-1 && e.Seq != 1) {
			continue
		}
		signed := e.WithSignature(r.device)
		r.rd.Outbox[i] = signed
		for j := len(r.rd.Entries) - 1; j >= 0; j-- {
			if r.rd.Entries[j] == e {
				r.rd.Entries[j] = signed
				break
			}
		}
	}
	if r.dirty {
		r.rd.Snapshot = r.snapshot()
	}
	return r.rd
}

// Advance tells the replica that the last Ready was persisted and published.
func (r *Replica) Advance() {
	r.rd = Ready{}
	r.dirty = false
}

// Tick tells the replica the time (unix seconds, from the caller's clock).
// A chain older than RotateAfter is replaced.
func (r *Replica) Tick(now int64, lk feed.Lookup) error {
	r.now = max(r.now, now) // a clock set back must not delay deletions
	r.pruneKeys()           // also for a device that no longer writes (removed, waiting)
	if r.send != nil && now-r.send.Started >= r.cfg.RotateAfter {
		r.rotate = true
	}
	return r.maintain(lk)
}

func (r *Replica) binding(author keys.Public, seq uint64) *ratchet.Binding {
	return &ratchet.Binding{Topic: r.g.Keys.Topic, Author: author, Seq: seq}
}

func metadataAD(topic *[32]byte, author keys.Public, seq uint64) []byte {
	b := make([]byte, 0, 17+32+32+8)
	b = append(b, "berty/v1/metadata"...)
	b = append(b, 0)
	b = append(b, topic[:]...)
	b = append(b, author[:]...)
	return binary.BigEndian.AppendUint64(b, seq)
}

func chainKeyAD(topic *[32]byte, author keys.Public, epoch uint32) []byte {
	b := make([]byte, 0, 18+32+32+4)
	b = append(b, "berty/v1/chain-key"...)
	b = append(b, 0)
	b = append(b, topic[:]...)
	b = append(b, author[:]...)
	return binary.BigEndian.AppendUint32(b, epoch)
}

// openMetadata decrypts and decodes a metadata entry's event: its payload
// is the epoch's ID, then the event sealed under the epoch's metadata key
// (§5.1). errUnknownEpoch: this replica does not hold that epoch.
func (r *Replica) openMetadata(e *feed.Entry) (*state.Event, error) {
	if len(e.Payload) < group.EpochIDSize {
		return nil, errors.New("metadata payload too short")
	}
	h := r.epochs[group.EpochID(e.Payload[:group.EpochIDSize])]
	if h == nil {
		return nil, errUnknownEpoch
	}
	pt, err := seal.Open(&h.Metadata, e.Payload[group.EpochIDSize:], metadataAD(&r.g.Keys.Topic, e.Author, e.Seq))
	if err != nil {
		return nil, err
	}
	return state.Decode(pt)
}
