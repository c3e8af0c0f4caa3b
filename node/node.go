// Package node runs the protocol core for one account: it owns the account's
// replicas (one per group), persists their output before anything leaves the
// process, and hands new entries to a Transport (docs/architecture.md).
//
// # Start here
//
// Open a Node on a store.Store (store/sqlite for real use), then call
// AddContact, CreateGroup, Invite, Join, Send and Remove; feed it what the
// network brings with Receive. Every call that changes state ends with one
// durable commit of everything it produced, then publishes this device's new
// entries, then returns: what a call acknowledged survives a crash.
//
// A Node is safe for concurrent use: a mutex serialises the calls, each of
// which drives the replicas synchronously. (The networking layer adds the
// goroutines that call Receive.)
package node

import (
	"cmp"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/berty-go/berty/core/feed"
	"github.com/berty-go/berty/core/group"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/core/seal"
	"github.com/berty-go/berty/core/state"
	"github.com/berty-go/berty/store"
)

// Transport carries entries between nodes. Publish may keep the slices it is
// given: the node never reuses them.
type Transport interface {
	// Join starts receiving the group with this topic, or moves it to other
	// networks. The replication key lets the transport check entries' MACs
	// before forwarding them; the networks are the keys of the epochs the
	// group is reached under, the first where this device publishes
	// (replica.Networks). Join is called again whenever they change.
	Join(topic, replication [32]byte, networks [][32]byte)
	// Publish sends this device's new entries of a group.
	Publish(topic [32]byte, entries [][]byte)
}

// Delivery is a message stored and handed to the application.
type Delivery struct {
	Topic   [32]byte
	Message replica.Message
}

// Config configures a Node. Zero values are documented per field.
type Config struct {
	Store store.Store // required; the node does not close it
	// Name is the display name of a new account (ignored when the store
	// holds one already).
	Name string
	// Transport receives published entries (nil: entries are only stored).
	Transport Transport
	// Deliver is called, after the commit, for every message stored,
	// sent or received (nil: none). It runs under the node's lock: it must
	// not call back into the node.
	Deliver func(Delivery)
	// Events is called for replica events (nil: none), like Deliver.
	Events func(topic [32]byte, ev replica.Event)
	// Rand is the source of keys and nonces (nil: crypto/rand).
	Rand io.Reader
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// RotateEvery and RotateAfter set the chain rotation policy; see
	// replica.Config (zero: the replica's defaults).
	RotateEvery uint32
	RotateAfter time.Duration
}

// Errors callers branch on.
var (
	ErrUnknownGroup = errors.New("unknown group")
	ErrClosed       = errors.New("node is closed")
)

type groupRun struct {
	g    *group.Group
	rep  *replica.Replica
	nets [][32]byte // the networks last given to the transport
}

// Node is one account's protocol engine.
type Node struct {
	cfg     Config
	st      store.Store
	account *keys.Pair
	device  *keys.Pair
	name    string

	mu      sync.Mutex // guards the fields below and serialises replica use
	closed  bool
	groups  map[[32]byte]*groupRun
	acct    *groupRun // the account group
	pending []Delivery
	events  []pendingEvent
	// contactTopics caches the topic of the contact group of (own key,
	// contact key): deriving it costs an X25519 agreement, and checking a
	// link or a request against every contact's key chain (§5.9) needs it
	// for each contact.
	contactTopics map[[64]byte][32]byte
}

type pendingEvent struct {
	topic [32]byte
	ev    replica.Event
}

// Open opens the account in cfg.Store, creating it if the store is empty, and
// resumes every group from its snapshot. Its cost grows with the number of
// groups, not the number of messages.
func Open(cfg Config) (*Node, error) {
	if cfg.Store == nil {
		return nil, errors.New("node: Config.Store is required")
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	n := &Node{cfg: cfg, st: cfg.Store, groups: map[[32]byte]*groupRun{}, contactTopics: map[[64]byte][32]byte{}}
	acc, err := n.st.Account()
	created := false
	if errors.Is(err, store.ErrNoAccount) {
		// A new account's name is its first display name (§5.8): the
		// same rule as SetName's, but it may be empty (no name yet).
		if cfg.Name != "" && (len(cfg.Name) > state.MaxProfileName || !utf8.ValidString(cfg.Name) || strings.TrimSpace(cfg.Name) == "") {
			return nil, ErrBadName
		}
		created = true
		acc = &store.Account{Name: cfg.Name}
		if _, err := io.ReadFull(cfg.Rand, acc.AccountSeed[:]); err != nil {
			return nil, fmt.Errorf("new account: %w", err)
		}
		if _, err := io.ReadFull(cfg.Rand, acc.DeviceSeed[:]); err != nil {
			return nil, fmt.Errorf("new account: %w", err)
		}
		if err := n.st.SetAccount(acc); err != nil {
			return nil, fmt.Errorf("new account: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("open account: %w", err)
	}
	n.account, n.device, n.name = keys.FromSeed(acc.AccountSeed), keys.FromSeed(acc.DeviceSeed), acc.Name

	stored, err := n.st.Groups()
	if err != nil {
		return nil, fmt.Errorf("open groups: %w", err)
	}
	// The account group first: the keys of contact groups made after a
	// key succession are in it (§5.9).
	slices.SortStableFunc(stored, func(a, b store.Group) int { return cmp.Compare(a.Kind, b.Kind) })
	ag := group.Account(n.account)
	for _, sg := range stored {
		g := group.New(group.Kind(sg.Kind), sg.ID, sg.Secret, sg.Owners)
		g.IDSeed = sg.IDSeed
		run, err := n.attach(g, sg.Snapshot)
		if err != nil {
			return nil, err
		}
		if g.Keys.Topic == ag.Keys.Topic {
			n.acct = run
		}
	}
	if n.acct == nil {
		run, err := n.attach(ag, nil)
		if err != nil {
			return nil, err
		}
		n.acct = run
		// A new account's first device announces itself at once. A device
		// given an existing account (device linking, §11.7) waits until it
		// has synced the account group and found its approval there (§5.7):
		// announcing before would race the account's existing devices for
		// the first place.
		if created {
			if err := n.step(run, func(lk feed.Lookup) error { return run.rep.AnnounceOwner(lk) }); err != nil {
				return nil, fmt.Errorf("create account group: %w", err)
			}
		}
	}
	if err := n.joinAccount(); err != nil {
		return nil, fmt.Errorf("join the account group: %w", err)
	}
	if err := n.reconcile(); err != nil {
		return nil, fmt.Errorf("resume groups: %w", err)
	}
	n.flush()
	return n, nil
}

func (n *Node) attach(g *group.Group, snapshot []byte) (*groupRun, error) {
	rep, err := n.newReplica(g, snapshot)
	if err != nil {
		return nil, err
	}
	run := &groupRun{g: g, rep: rep}
	n.groups[g.Keys.Topic] = run
	n.joinNetworks(run, true)
	return run, nil
}

// joinNetworks gives the transport the networks a group is reached under
// (the epochs', §3.4), if they changed since it was last told, or always.
func (n *Node) joinNetworks(run *groupRun, always bool) {
	nets := run.rep.Networks()
	if !always && slices.Equal(nets, run.nets) {
		return
	}
	run.nets = nets
	if n.cfg.Transport != nil {
		n.cfg.Transport.Join(run.g.Keys.Topic, run.g.Keys.Replication, nets)
	}
}

// newReplica makes the replica of this device in g, resumed from snapshot
// if it is not nil.
func (n *Node) newReplica(g *group.Group, snapshot []byte) (*replica.Replica, error) {
	var k uint32 // a new replica follows the account's membership (a snapshot has its own)
	if n.acct != nil && g.Kind == group.KindMulti {
		if j := n.acct.rep.State().Groups()[g.ID]; j != nil && !j.Left {
			k = j.Membership
		}
	}
	account := n.account
	if g.Kind == group.KindContact {
		// A contact group made after a key succession derives from the
		// key the account had then (§5.9).
		for _, o := range g.Owners {
			if p := n.keyAt(o); p != nil {
				account = p
			}
		}
	}
	return replica.New(replica.Config{
		Group: g, Account: account, Device: n.device, Rand: n.cfg.Rand,
		RotateEvery: n.cfg.RotateEvery, RotateAfter: int64(n.cfg.RotateAfter / time.Second),
		Now: n.cfg.Now().Unix(), Membership: k,
	}, snapshot)
}

func (n *Node) lookup(run *groupRun) feed.Lookup {
	return storageLookup{store.Lookup{Store: n.st, Topic: run.g.Keys.Topic}}
}

// storageLookup marks the store's read errors, so that Receive can tell the
// node's own failures from a peer's bad entries.
type storageLookup struct{ l store.Lookup }

func (s storageLookup) Entry(d keys.Public, seq uint64) (feed.Head, bool, error) {
	h, ok, err := s.l.Entry(d, seq)
	if err != nil {
		err = &StorageError{Err: err}
	}
	return h, ok, err
}

// Raw implements replica.RawReader.
func (s storageLookup) Raw(d keys.Public, seq uint64) ([]byte, bool, error) {
	raws, err := s.l.Store.EntriesAfter(s.l.Topic, d, seq-1, 1)
	if err != nil {
		return nil, false, &StorageError{Err: err}
	}
	if len(raws) == 0 {
		return nil, false, nil
	}
	return raws[0], true, nil
}

// StorageError is a failure of the node's own storage, as opposed to a bad
// entry from a peer.
type StorageError struct{ Err error }

func (e *StorageError) Error() string { return "storage: " + e.Err.Error() }
func (e *StorageError) Unwrap() error { return e.Err }

// step runs fn on a replica, then persists and publishes what it produced.
// If fn or the commit fails, the replica is reloaded from its last persisted
// snapshot, so memory never runs ahead of the disk.
func (n *Node) step(run *groupRun, fn func(lk feed.Lookup) error) error {
	err := fn(n.lookup(run))
	if err == nil {
		err = n.persist(run)
	} else if rd := run.rep.Ready(); !rd.Empty() {
		// fn failed part-way (a refused entry after good ones in a batch is
		// not an error, so this is a real failure): keep what it produced
		// only if it can be committed.
		if perr := n.persist(run); perr != nil {
			err = errors.Join(err, perr)
		}
	}
	return err
}

func (n *Node) persist(run *groupRun) error {
	rd := run.rep.Ready()
	if rd.Empty() {
		return nil
	}
	topic := run.g.Keys.Topic
	// What came from peers only can skip the fsync: it is recoverable by
	// sync and the older snapshot still holds its keys. Anything this device
	// wrote (and will publish) is committed durably.
	b := &store.Batch{Recoverable: len(rd.Outbox) == 0 && !rd.Erased, Erase: rd.Erased}
	if rd.Snapshot != nil {
		b.Groups = []store.Group{{Topic: topic, Kind: uint8(run.g.Kind), ID: run.g.ID, Secret: run.g.Secret,
			IDSeed: run.g.IDSeed, Owners: run.g.Owners, Snapshot: rd.Snapshot}}
	}
	for _, t := range rd.Truncations {
		b.Truncations = append(b.Truncations, store.Truncation{Topic: topic, Device: t.Device, After: t.After})
	}
	metadata := false
	for _, e := range rd.Entries {
		metadata = metadata || e.Kind == feed.KindMetadata
		b.Entries = append(b.Entries, store.Entry{Topic: topic, Device: e.Author, Seq: e.Seq, ID: e.ID, Lamport: e.Lamport, Raw: e.Encoded})
	}
	for _, m := range rd.Messages {
		b.Messages = append(b.Messages, store.Message{Topic: topic, Device: m.Author, Seq: m.Seq, Member: m.Member,
			Lamport: m.Lamport, ID: m.ID, Own: m.Own, Body: m.Body})
	}
	if err := n.st.Commit(b); err != nil {
		n.reload(run)
		return fmt.Errorf("store group %s: %w", run.g.Fingerprint(), err)
	}
	if metadata {
		// Membership and epochs change only by metadata: the networks the
		// group is reached under may have moved. They move before this
		// device publishes, so that what it writes after a removal (the
		// removal itself, the new epoch's keys) goes out on the new
		// epoch's network only.
		n.joinNetworks(run, false)
	}
	if n.cfg.Transport != nil && len(rd.Outbox) > 0 {
		out := make([][]byte, len(rd.Outbox))
		for i, e := range rd.Outbox {
			out[i] = e.Encoded
		}
		n.cfg.Transport.Publish(topic, out)
	}
	for _, m := range rd.Messages {
		n.pending = append(n.pending, Delivery{Topic: topic, Message: m})
	}
	for _, ev := range rd.Events {
		n.events = append(n.events, pendingEvent{topic, ev})
	}
	run.rep.Advance()
	return nil
}

// reload replaces a replica whose output could not be stored by one resumed
// from the last snapshot that was.
func (n *Node) reload(run *groupRun) {
	var snap []byte
	if gs, err := n.st.Groups(); err == nil {
		for _, g := range gs {
			if g.Topic == run.g.Keys.Topic {
				snap = g.Snapshot
			}
		}
	}
	rep, err := n.newReplica(run.g, snap)
	if err == nil {
		run.rep = rep
		n.joinNetworks(run, false)
	}
}

// flush hands deliveries and events to the callbacks; called before a public
// method returns, after all commits.
func (n *Node) flush() {
	if n.cfg.Deliver != nil {
		for _, d := range n.pending {
			n.cfg.Deliver(d)
		}
	}
	if n.cfg.Events != nil {
		for _, e := range n.events {
			n.cfg.Events(e.topic, e.ev)
		}
	}
	n.pending, n.events = n.pending[:0], n.events[:0]
}

func (n *Node) run(topic [32]byte) (*groupRun, error) {
	if n.closed {
		return nil, ErrClosed
	}
	run := n.groups[topic]
	if run == nil {
		return nil, ErrUnknownGroup
	}
	return run, nil
}

// Attach connects the node to a transport after opening (the libp2p host
// needs the node's identity seed, so it is built after the node): every
// group is joined on it, and new entries are published to it from now on.
// Entries stored before are not published; peers get them by sync.
func (n *Node) Attach(t Transport) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	if n.cfg.Transport != nil {
		return errors.New("node: a transport is attached already")
	}
	n.cfg.Transport = t
	for _, run := range n.groups {
		n.joinNetworks(run, true)
	}
	return nil
}

// PeerSeed returns the seed of this device's network identity, derived from
// the device seed: the peer ID stays the same across restarts without being
// stored, and says nothing about the account.
func (n *Node) PeerSeed() [32]byte {
	seed := n.device.Seed()
	return seal.Derive32(seed[:], nil, seal.LabelPeerKey)
}

// EntriesAfter returns up to limit stored entries of a device's feed after
// a seq: what a sync peer asks for.
func (n *Node) EntriesAfter(topic [32]byte, device keys.Public, after uint64, limit int) ([][]byte, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := n.run(topic); err != nil {
		return nil, err
	}
	return n.st.EntriesAfter(topic, device, after, limit)
}

// DeviceKey returns this device's public key.
func (n *Node) DeviceKey() keys.Public { return n.device.Public() }

// Name returns the account's display name.
func (n *Node) Name() string { return n.name }

// AccountTopic returns the topic of the account group.
func (n *Node) AccountTopic() [32]byte { return n.acct.g.Keys.Topic }

// Close stops the node. It does not close the store. It is idempotent.
func (n *Node) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	return nil
}

// accountPost records an event on the account group.
func (n *Node) accountPost(ev *state.Event) error {
	if err := n.step(n.acct, func(lk feed.Lookup) error { return n.acct.rep.Post(ev, lk) }); err != nil {
		return err
	}
	// The post may record a group this device just joined: let the
	// account's other devices in there (§5.7), and show the account's name.
	return errors.Join(n.approveSiblings(), n.syncProfile())
}
