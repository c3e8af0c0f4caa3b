// Package p2p carries a node's entries over libp2p (docs/protocol.md §10):
// gossipsub per group topic for new entries, a direct sync protocol that
// exchanges version vectors and streams what is missing, and peer discovery
// (static peers, mDNS).
//
// # Start here
//
// New builds a Host from a Config; it implements node.Transport (Join,
// Publish), so it is handed to node.Open. Once the node is open, Serve
// attaches it: entries from the network then reach the node through a
// Deliver function, in batches, and sync requests are served from a Source.
//
// # Goroutines
//
// The Host owns: one reader per joined topic (gossip in), one reader of
// topic events per topic (a peer joined: sync with it), one ingest loop that
// batches everything received and calls Deliver, one sync per (peer, topic)
// in flight, a periodic sync ticker, and a redial loop per static peer.
// Close cancels them all and waits; it is idempotent.
package p2p

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	yamux "github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	noise "github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	tcp "github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	dht "github.com/libp2p/go-libp2p-kad-dht"

	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/replica"
)

// Deliver hands a batch of entries of one group to the node and says what
// became of them.
type Deliver func(topic [32]byte, raws [][]byte) (Delivered, error)

// Delivered is what a node did with a delivered batch.
type Delivered struct {
	// Appended entries are new to the node. When they came by sync, the
	// host tells the topic's other peers (gossip does not relay them), so
	// they do not wait for the next write.
	Appended int
	// Waiting reports that some entries wait for predecessors (or were
	// turned away for lack of room): the host syncs with the peers the
	// batch came from.
	Waiting bool
}

// Source is what the host needs from the node to sync (§10.2).
type Source interface {
	Vector(topic [32]byte) (map[keys.Public]uint64, error)
	EntriesAfter(topic [32]byte, device keys.Public, after uint64, limit int) ([][]byte, error)
	// Peer says what the node's replica of a group knows of a device that
	// syncs with it — for a cut device, the clock up to which it is served
	// (0: nothing) — and whether this device is itself a newcomer there.
	Peer(topic [32]byte, device keys.Public) (status replica.PeerStatus, until uint64, newcomer bool, err error)
	// SignSync signs a sync statement with this device's key in the group.
	SignSync(topic [32]byte, statement []byte) (device keys.Public, sig []byte, err error)
	// DeviceKeyIn is the key SignSync signs with now: it changes when the
	// account joins a group again (a new membership, protocol §3.2).
	DeviceKeyIn(topic [32]byte) (keys.Public, error)
	// Announce returns this device's first entry in the group (nil if it
	// has not announced itself), shown to a peer that does not know it.
	Announce(topic [32]byte) ([]byte, error)
}

// Config configures a Host. Zero values are documented per field.
type Config struct {
	// Seed is the device's network identity seed (node.PeerSeed).
	Seed [32]byte
	// Listen addresses (nil: TCP and QUIC on 127.0.0.1, ephemeral ports —
	// reachable from this machine only; pass 0.0.0.0 addresses to be
	// reachable on the LAN).
	Listen []string
	// Peers are static peers to dial and keep dialing (multiaddrs ending in
	// /p2p/ID).
	Peers []string
	// MDNS finds peers on the local network (and announces this one).
	MDNS bool
	// DHT runs a Kademlia DHT (prefix /berty, server mode) on which each
	// group's devices meet at a rendezvous value that rotates every 24 h
	// (§10.3). Bootstrap lists DHT peers to start from (multiaddrs with
	// /p2p/ID); they are also kept dialed.
	DHT       bool
	Bootstrap []string
	// RendezvousEvery is how often a group's rendezvous is announced and
	// looked up again once found (0: 1 min); before that, with backoff
	// from 1 s.
	RendezvousEvery time.Duration
	// Mailboxes are infrastructure nodes (multiaddrs with /p2p/ID) that
	// keep this device's groups for its peers that are offline, and its
	// peers' entries for it while it is (§10.5): each is handed what
	// replication needs — never a read key.
	Mailboxes []string
	// MailboxEvery is how often a host reconciles its groups with each
	// mailbox (0: 5 min); also whenever it reaches one and when a group
	// joins a network.
	MailboxEvery time.Duration
	// Known are group peers met in an earlier run (Host.KnownPeers),
	// dialed at start and redialed as group peers are.
	Known []KnownPeer
	// Now is the clock for rendezvous periods (nil: time.Now).
	Now func() time.Time
	// NAT enables what a device behind a NAT needs: the circuit relay v2
	// client, hole punching (DCUtR) and AutoNAT v2. Off by default: on a LAN
	// or loopback they only add traffic. Relays implies it.
	NAT bool
	// Relays are circuit relay v2 nodes (multiaddrs with /p2p/ID, such as
	// a `berty serve` node) through which this host stays reachable when it
	// cannot be dialled directly — behind a NAT, or with no listen address
	// at all (§10.4). It holds a slot on each and advertises the relayed
	// addresses beside its own, until AutoNAT finds one of its own
	// reachable. Implies NAT.
	Relays []string
	// SyncInterval is how often the host syncs each group with its peers
	// (0: 30 s). Sync also runs when a peer joins a group and on gaps.
	SyncInterval time.Duration
	Logger       *slog.Logger
	// Observe, if set, is told of refusals as they happen (for metrics and
	// tests). It must not block.
	Observe func(Event)
}

// EventKind classifies what Observe is told.
type EventKind int

// Event kinds.
const (
	GossipRefused  EventKind = iota + 1 // a pubsub message failed validation
	SyncRefused                         // a sync stream was malformed or unproven
	PointRefused                        // a rendezvous-point exchange failed (§11.4)
	SyncCut                             // a removed or revoked device was served up to its cut (§10.2)
	MailboxStored                       // a mailbox took entries of this device's (§10.5); Peer is the mailbox
	MailboxFetched                      // entries came from a mailbox; Peer is the mailbox
	PeerDirect                          // a peer reached through a relay was reached directly (§10.4)
)

// Event is what the host tells Observe (a refusal, mostly), with the peer
// it came from.
type Event struct {
	Kind EventKind
	Peer peer.ID
}

func (x *Host) observe(k EventKind, p peer.ID) {
	switch k {
	case GossipRefused:
		x.gossipRefused.Add(1)
	case SyncRefused:
		x.syncErrors.Add(1)
	case PointRefused:
		x.pointRefused.Add(1)
	case SyncCut:
		x.syncCut.Add(1)
	}
	if x.cfg.Observe != nil {
		x.cfg.Observe(Event{Kind: k, Peer: p})
	}
}

// DefaultListen are the listen addresses used when Config.Listen is nil.
var DefaultListen = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}

// Stats counts what the host did; read it with Host.Stats.
type Stats struct {
	GossipIn, GossipRefused, SyncServed, SyncFetched, SyncErrors int64
	// PointRefused counts failed exchanges at this host's rendezvous
	// points (bad handshakes, garbage, floods).
	PointRefused int64
	// SyncCut counts syncs served to a removed or revoked device: only
	// what sorts up to the event that cut it.
	SyncCut int64
}

// Host is one device's libp2p presence.
type Host struct {
	cfg  Config
	log  *slog.Logger
	h    host.Host
	gate *ClosingGate // closed first in Close
	ps   *pubsub.PubSub
	cm   *connmgr.BasicConnMgr
	mdns mdns.Service
	dht  *dht.IpfsDHT
	// routable is closed once the DHT's routing table has had a peer.
	routable chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	in     chan inbound

	mu sync.Mutex // guards topics, nets, syncing, closed, serving, deliver and source
	// proven lists, per network ID, the peers that proved in a sync that
	// they hold the network's key (§10.1): the group's peers. Its own lock.
	provenMu sync.RWMutex
	proven   map[[32]byte]map[peer.ID]bool
	// met lists, per network ID, the peers that proved its key in an
	// earlier run (Config.Known): whose mailboxes keep the group for them.
	met     map[[32]byte]map[peer.ID]bool
	topics  map[[32]byte]*topic
	nets    map[[32]byte]*groupNet // by network ID
	syncing map[syncKey]int
	nudges  map[[32]byte]*time.Timer
	later   map[syncKey]*time.Timer
	pulls   map[syncKey]time.Time // when this host last asked a cut peer to pull
	serves  map[peer.ID]int       // syncs being served, per peer
	// redialing lists the group peers being dialed again (§10.4),
	// upgrading the relayed peers being tried directly.
	redialing, upgrading map[peer.ID]bool
	closed               bool
	serving              bool
	deliver              Deliver
	source               Source

	points points
	slots  slots
	mbox   mailboxes
	// pushing lists the (mailbox, group) pushes in flight; pushAgain
	// those asked for again meanwhile.
	pushing, pushAgain map[syncKey]bool
	// handFailed is when a peer's mailbox was last not reached.
	handFailed map[peer.ID]time.Time
	// wake is closed, and replaced, when the host's addresses change.
	wakeMu sync.Mutex
	wake   chan struct{}
	seen   seenEntries
	sigs   syncSigs

	gossipIn, gossipRefused, syncServed, syncFetched, syncErrors, pointRefused, syncCut atomic.Int64
}

// topic is a group as the host carries it: its entries' topic and MAC key,
// and the networks (epochs) it is reached on.
type topic struct {
	id   [32]byte
	rep  [32]byte
	nets []*groupNet // nets[0]: where this device publishes
}

// peersOf returns the peers met on any of a group's networks: by gossip,
// or — over a relayed, limited connection, which gossip does not use —
// proven in a sync and reached only so. (A directly connected peer that
// gossip does not list yet is not one: counting it would change when the
// syncs of a group that is forming run.)
func (x *Host) peersOf(t *topic) []peer.ID {
	var out []peer.ID
	for _, nw := range t.nets {
		for _, p := range nw.t.ListPeers() {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
		for _, p := range x.provenPeers(nw.id) {
			if !slices.Contains(out, p) && x.limitedOnly(p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// groupNet is one network key of a group (§3.4): a gossipsub topic named by
// its ID, sync proofs and rendezvous values keyed by it.
type groupNet struct {
	group *topic
	key   [32]byte
	id    [32]byte
	name  string
	t     *pubsub.Topic
	sub   *pubsub.Subscription
	ev    *pubsub.TopicEventHandler
	ctx   context.Context // ends when the group leaves the network
	stop  context.CancelFunc
}

type inbound struct {
	topic   [32]byte
	raws    [][]byte
	from    peer.ID
	viaSync bool
}

type syncKey struct {
	p peer.ID
	t [32]byte
}

// Identity returns the libp2p key for an identity seed.
func Identity(seed [32]byte) (crypto.PrivKey, error) {
	return crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed[:]))
}

// BaseOptions are the libp2p options every Berty host shares (devices and
// `berty serve`): its identity, its listen addresses (none: it only
// dials), TCP and QUIC, Noise, yamux.
//
// gate, if set, is the host's ClosingGate: close it before the host.
func BaseOptions(priv crypto.PrivKey, listen []string, gate *ClosingGate) []libp2p.Option {
	addrs := libp2p.ListenAddrStrings(listen...)
	if len(listen) == 0 {
		addrs = libp2p.NoListenAddrs
	}
	opts := []libp2p.Option{
		libp2p.Identity(priv),
		addrs,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
	}
	if gate != nil {
		opts = append(opts, libp2p.ConnectionGater(gate))
	}
	return opts
}

// New starts a host: listens, starts gossipsub, the sync protocol and
// discovery. Call Serve once the node is open.
func New(cfg Config) (*Host, error) {
	if cfg.SyncInterval == 0 {
		cfg.SyncInterval = 30 * time.Second
	}
	if cfg.Listen == nil {
		cfg.Listen = DefaultListen
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RendezvousEvery == 0 {
		cfg.RendezvousEvery = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MailboxEvery == 0 {
		cfg.MailboxEvery = 5 * time.Minute
	}
	priv, err := Identity(cfg.Seed)
	if err != nil {
		return nil, err
	}
	relays, err := parseAddrs("relay", cfg.Relays)
	if err != nil {
		return nil, err
	}
	boxes, err := parseAddrs("mailbox", cfg.Mailboxes)
	if err != nil {
		return nil, err
	}
	if len(relays) > 0 {
		cfg.NAT = true
	}
	cm, err := connmgr.NewConnManager(64, 128)
	if err != nil {
		return nil, err
	}
	gate := &ClosingGate{}
	opts := append(BaseOptions(priv, cfg.Listen, gate), libp2p.ConnectionManager(cm))
	opts = append(opts, natOptions(cfg)...)
	h, err := libp2p.New(opts...)
	if err != nil {
		cm.Close()
		return nil, fmt.Errorf("start libp2p: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	x := &Host{cfg: cfg, log: cfg.Logger, h: h, cm: cm, gate: gate, ctx: ctx, cancel: cancel,
		proven: map[[32]byte]map[peer.ID]bool{}, met: map[[32]byte]map[peer.ID]bool{}, wake: make(chan struct{}),
		in: make(chan inbound, 256), topics: map[[32]byte]*topic{}, nets: map[[32]byte]*groupNet{}, syncing: map[syncKey]int{}, nudges: map[[32]byte]*time.Timer{}, later: map[syncKey]*time.Timer{}, pulls: map[syncKey]time.Time{}, serves: map[peer.ID]int{}, redialing: map[peer.ID]bool{}, upgrading: map[peer.ID]bool{}, pushing: map[syncKey]bool{}, pushAgain: map[syncKey]bool{}, handFailed: map[peer.ID]time.Time{}}
	x.ps, err = pubsub.NewGossipSub(ctx, h,
		// Entries are signed by their devices already: pubsub's own signing
		// would cap throughput (DEPENDENCIES: ~6 000 msg/s) for nothing.
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(messageID),
		pubsub.WithMaxMessageSize(MaxFrame+1024),
		pubsub.WithLogger(cfg.Logger),
		pubsub.WithPeerFilter(x.peerFilter),
		pubsub.WithFloodPublish(false),
	)
	if err != nil {
		cancel()
		h.Close()
		return nil, fmt.Errorf("start gossipsub: %w", err)
	}
	h.SetStreamHandler(ProtocolSync, x.serveSync)
	x.points.wake = make(chan struct{}, 1)
	h.SetStreamHandler(ProtocolPoints, x.servePoint)
	if err := x.watchConnections(); err != nil {
		x.Close()
		return nil, err
	}
	for _, p := range cfg.Peers {
		ai, err := peer.AddrInfoFromString(p)
		if err != nil {
			x.Close()
			return nil, fmt.Errorf("static peer %q: %w (want a multiaddr ending in /p2p/ID)", p, err)
		}
		x.wg.Go(func() { x.keepDialing(*ai) })
	}
	if len(relays) > 0 {
		x.slots.addrs, x.slots.lost = map[peer.ID][]ma.Multiaddr{}, map[peer.ID]chan struct{}{}
		if x.slots.emit, err = h.EventBus().Emitter(new(event.EvtAutoRelayAddrsUpdated)); err != nil {
			x.Close()
			return nil, err
		}
		for _, ai := range relays {
			x.slots.lost[ai.ID] = make(chan struct{}, 1)
		}
		for _, ai := range relays {
			x.wg.Go(func() { x.holdSlot(ai) })
		}
	}
	if len(relays)+len(boxes) > 0 {
		x.log.Info("infrastructure nodes", "relays", len(relays), "mailboxes", len(boxes), "bootstrap", len(cfg.Bootstrap))
	}
	x.mbox.list, x.mbox.wake = boxes, map[peer.ID]chan struct{}{}
	for _, ai := range boxes {
		x.mbox.wake[ai.ID] = make(chan struct{}, 1)
	}
	for _, kp := range cfg.Known {
		if kp.ID == h.ID() {
			continue
		}
		h.Peerstore().AddAddrs(kp.ID, kp.Addrs, time.Hour)
		for _, id := range kp.Networks {
			if x.met[id] == nil {
				x.met[id] = map[peer.ID]bool{}
			}
			x.met[id][kp.ID] = true
		}
		x.redial(kp.ID)
	}
	if cfg.DHT {
		if err := x.startDHT(); err != nil {
			x.Close()
			return nil, err
		}
	}
	if cfg.MDNS {
		x.mdns = mdns.NewMdnsService(h, "berty-go", mdnsNotifee{x})
		if err := x.mdns.Start(); err != nil {
			x.Close()
			return nil, fmt.Errorf("start mDNS: %w", err)
		}
	}
	return x, nil
}

// Serve attaches the node: received entries go to deliver, sync requests
// are answered from src. Until then, received gossip waits in a bounded
// queue and sync requests get empty answers. Serve may be called once.
func (x *Host) Serve(deliver Deliver, src Source) error {
	if deliver == nil || src == nil {
		return errors.New("p2p: Serve needs a Deliver and a Source")
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return errors.New("p2p: host is closed")
	}
	if x.serving {
		return errors.New("p2p: Serve called twice")
	}
	x.serving, x.deliver, x.source = true, deliver, src
	x.wg.Go(x.ingest)
	x.wg.Go(x.periodicSync)
	for _, ai := range x.mbox.list {
		x.wg.Go(func() { x.keepMailbox(ai) })
	}
	for id := range x.topics {
		x.syncAllLocked(id)
	}
	return nil
}

func (x *Host) attached() (Deliver, Source) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.deliver, x.source
}

// ID returns the host's peer ID.
func (x *Host) ID() peer.ID { return x.h.ID() }

// Addrs returns the host's listen addresses with its peer ID, as static peers
// of other hosts take them.
func (x *Host) Addrs() []string {
	var out []string
	for _, a := range x.h.Addrs() {
		out = append(out, a.Encapsulate(ma.StringCast("/p2p/"+x.h.ID().String())).String())
	}
	return out
}

// Connect dials a peer given as a multiaddr ending in /p2p/ID.
func (x *Host) Connect(ctx context.Context, addr string) error {
	ai, err := peer.AddrInfoFromString(addr)
	if err != nil {
		return err
	}
	x.clearBackoff(ai.ID)
	return x.h.Connect(ctx, *ai)
}

// Disconnect closes the connections to a peer. Nothing re-dials it unless
// it is a static peer or mDNS finds it again.
func (x *Host) Disconnect(p peer.ID) error {
	x.cm.Unprotect(p, "berty-group")
	return x.h.Network().ClosePeer(p)
}

// Peers returns the peers currently connected.
func (x *Host) Peers() []peer.ID { return x.h.Network().Peers() }

// TopicPeers returns the peers of a group: those that proved, in a sync,
// that they hold the key of one of its networks (a peer that only
// subscribed to a network's name is not one, §10.1).
func (x *Host) TopicPeers(topicID [32]byte) []peer.ID {
	x.mu.Lock()
	t := x.topics[topicID]
	var out []peer.ID
	if t != nil {
		for _, p := range x.peersOf(t) {
			if slices.ContainsFunc(t.nets, func(nw *groupNet) bool { return x.isProven(p, nw.id) }) {
				out = append(out, p)
			}
		}
	}
	x.mu.Unlock()
	return out
}

// setProven records that peer p proved, in a sync, that it holds a
// network's key: a peer of the group, whose connection is kept (§10.1).
func (x *Host) setProven(p peer.ID, network [32]byte) (fresh bool) {
	x.provenMu.Lock()
	defer x.provenMu.Unlock()
	m := x.proven[network]
	if m == nil {
		m = map[peer.ID]bool{}
		x.proven[network] = m
	}
	if !m[p] {
		m[p] = true
		x.cm.Protect(p, "berty-group")
		return true
	}
	return false
}

// peerFilter is gossipsub's: a peer takes part in a network's gossip only
// once it proved, in a sync, that it holds the network's key (§10.1).
func (x *Host) peerFilter(p peer.ID, topicName string) bool {
	id, ok := networkOfTopic(topicName)
	return ok && x.isProven(p, id)
}

// provenPeers lists the peers that proved a network's key.
func (x *Host) provenPeers(network [32]byte) []peer.ID {
	x.provenMu.RLock()
	defer x.provenMu.RUnlock()
	out := make([]peer.ID, 0, len(x.proven[network]))
	for p := range x.proven[network] {
		out = append(out, p)
	}
	return out
}

func (x *Host) isProven(p peer.ID, network [32]byte) bool {
	x.provenMu.RLock()
	defer x.provenMu.RUnlock()
	return x.proven[network][p]
}

// Networks returns the IDs of the networks a group is carried on (§3.4),
// the one this device publishes on first.
func (x *Host) Networks(topicID [32]byte) [][32]byte {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out [][32]byte
	if t := x.topics[topicID]; t != nil {
		for _, nw := range t.nets {
			out = append(out, nw.id)
		}
	}
	return out
}

// Stats returns the host's counters.
func (x *Host) Stats() Stats {
	return Stats{GossipIn: x.gossipIn.Load(), GossipRefused: x.gossipRefused.Load(),
		SyncServed: x.syncServed.Load(), SyncFetched: x.syncFetched.Load(), SyncErrors: x.syncErrors.Load(),
		PointRefused: x.pointRefused.Load(), SyncCut: x.syncCut.Load()}
}

// Close stops everything the host started and waits for it. Idempotent.
func (x *Host) Close() error {
	x.mu.Lock()
	closed := x.closed
	x.mu.Unlock()
	if !closed {
		x.flushMailboxes()
	}
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return nil
	}
	x.closed = true
	topics := x.topics
	for _, tm := range x.nudges {
		tm.Stop()
	}
	for _, tm := range x.later {
		tm.Stop()
	}
	x.mu.Unlock()
	x.gate.Close()
	x.cancel()
	if x.mdns != nil {
		x.mdns.Close()
	}
	for _, t := range topics {
		for _, nw := range t.nets {
			nw.sub.Cancel()
			nw.ev.Cancel()
		}
	}
	if x.dht != nil {
		x.dht.Close()
	}
	err := x.h.Close()
	x.wg.Wait()
	if x.slots.emit != nil {
		x.slots.emit.Close()
	}
	return err
}

type mdnsNotifee struct{ x *Host }

// mdnsYield is how long the side with the larger peer ID lets the other dial
// first after they find each other on the local network.
const mdnsYield = time.Second

// HandlePeerFound dials a peer found by mDNS. Two devices usually hear each
// other at the same moment, and libp2p dials TCP from its listening port, so
// their two dials can meet as one TCP simultaneous open: a single connection
// on which both sides start the Noise handshake as initiator, and both fail.
// mDNS reports an entry once per TTL (two minutes), so that failure would
// hide the peer until then. Hence: the side with the smaller peer ID dials at
// once, the other yields for mdnsYield and dials only if still unconnected,
// and a failed dial is tried again up to three times with jittered backoff.
func (n mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	x := n.x
	if ai.ID == x.h.ID() {
		return
	}
	var delay time.Duration
	if x.h.ID() > ai.ID {
		delay = mdnsYield
	}
	for try := range 4 {
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-x.ctx.Done():
				t.Stop()
				return
			}
		}
		if x.h.Network().Connectedness(ai.ID) == network.Connected {
			return
		}
		ctx, cancel := context.WithTimeout(x.ctx, 10*time.Second)
		err := x.h.Connect(ctx, ai)
		cancel()
		if err == nil || x.ctx.Err() != nil {
			return
		}
		x.log.Debug("mdns: connect failed", "peer", ai.ID, "try", try+1, "err", err)
		base := mdnsYield << try
		delay = base + rand.N(base/2)
	}
}

// keepDialing reconnects to a static peer whenever it is not connected,
// with backoff from 1 s to 1 min.
func (x *Host) keepDialing(ai peer.AddrInfo) {
	backoff := time.Second
	for {
		if x.h.Network().Connectedness(ai.ID) != network.Connected {
			x.clearBackoff(ai.ID)
			ctx, cancel := context.WithTimeout(x.ctx, 10*time.Second)
			err := x.h.Connect(ctx, ai)
			cancel()
			if err == nil {
				backoff = time.Second
				x.cm.Protect(ai.ID, "berty-static")
			} else {
				backoff = min(backoff*2, time.Minute)
			}
		}
		select {
		case <-x.ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
}
