// Package infra is `berty serve`: an infrastructure node with no account
// (docs/protocol.md §10.4). It opens no account and holds no group key; it
// helps devices find and reach each other:
//
//   - Bootstrap: a server of Berty's DHT (prefix /berty), where devices
//     announce and look up the rotating rendezvous values of their groups
//     and contact links (§10.3), so a device needs only its address.
//   - Relay: a circuit relay v2 service, so that a device behind a NAT (or
//     with no listen address) is reachable through it and can then try a
//     direct connection (hole punching, DCUtR). Its limits are sized for
//     messaging and sync, not only for hole punching.
//   - AutoNAT: it answers devices that ask whether they are reachable.
//   - Mailbox: devices register their groups with what replication needs
//     (never a key that reads anything); it stores the groups' entries,
//     checked as far as that allows, for members that are offline, and
//     serves them when they come back (mailbox.go).
//
// Its identity (and so its /p2p/ID) lives in its data directory and stays
// across restarts, and so do its listen ports when given.
package infra

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	relay "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/berty-go/berty/internal/dirlock"
	"github.com/berty-go/berty/internal/fsync"
	"github.com/berty-go/berty/net/p2p"
)

// IdentityFile is the node's key seed in its data directory (32 random
// bytes, mode 0600): it is what keeps its /p2p/ID across restarts.
const IdentityFile = "identity.key"

// DefaultListen: TCP and QUIC on port 4040, every interface, IPv4 and IPv6.
var DefaultListen = []string{
	"/ip4/0.0.0.0/tcp/4040", "/ip4/0.0.0.0/udp/4040/quic-v1",
	"/ip6/::/tcp/4040", "/ip6/::/udp/4040/quic-v1",
}

// Relay limits (docs/protocol.md §10.4). A circuit carries a device's syncs
// and messages until its duration or data limit, then the devices open
// another (or meet directly, if hole punching worked): the limits bound
// what one device costs the operator, not what it can send.
type Limits struct {
	// Reservations is how many devices may hold a slot at once (0: 1024).
	Reservations int
	// PerIP bounds the slots of one IP address (0: 32; several devices may
	// share a home's address).
	PerIP int
	// Circuits is how many relayed connections one device may have open
	// at once (0: 32).
	Circuits int
	// Duration ends a relayed connection after this long (0: 30 min;
	// negative: no limit).
	Duration time.Duration
	// Data ends a relayed connection after this many bytes in either
	// direction (0: 64 MiB; negative: no limit). With Duration and Data
	// both unlimited, relayed connections are not "limited" to libp2p:
	// gossip then runs over them too.
	Data int64
}

// Config configures a node. Zero values are documented per field.
type Config struct {
	// Dir is the data directory: the identity lives there.
	Dir string
	// Listen addresses (nil: DefaultListen).
	Listen []string
	// Announce replaces the addresses the node advertises (its listen
	// addresses, as the interfaces show them): the public address of a
	// host behind a load balancer or a port mapping, say.
	Announce []string
	// NoDHT, NoRelay and NoMailbox turn those services off.
	NoDHT, NoRelay, NoMailbox bool
	// Mailbox bounds what devices store (§10.5).
	Mailbox MailboxLimits
	// Allow, if not empty, is the only peers given a relay slot or a
	// relayed connection, and served by the mailbox (the operator's
	// devices, or a community's): both are open to every device otherwise.
	// The DHT and AutoNAT are open to all.
	Allow  []peer.ID
	Limits Limits
	// Registerer, if set, receives libp2p's metrics (connections, streams,
	// relay, DHT, resource manager).
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Node is a running infrastructure node.
type Node struct {
	h      host.Host
	gate   *p2p.ClosingGate // closed first in Close
	unlock func()

	closeOnce sync.Once
	closeErr  error
	dht       *dht.IpfsDHT
	relay     *relay.Relay
	mbox      *mailbox
	log       *slog.Logger
	stop      context.CancelFunc
	done      chan struct{}
}

// Start opens (or creates) the node's identity in cfg.Dir and starts its
// services.
func Start(cfg Config) (*Node, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Listen == nil {
		cfg.Listen = DefaultListen
	}
	lim := cfg.Limits.withDefaults()
	if cfg.Dir == "" {
		return nil, errors.New("infra: no data directory")
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create the data directory: %w", err)
	}
	unlock, err := dirlock.Lock(cfg.Dir, LockFile)
	var held *dirlock.HeldError
	if errors.As(err, &held) {
		return nil, fmt.Errorf("%w: another berty serve runs on %s (pid %s): stop it first, or use another --data", ErrRunning, held.Dir, held.Pid)
	}
	if err != nil {
		return nil, err
	}
	n, err := start(cfg, lim)
	if err != nil {
		unlock()
		return nil, err
	}
	n.unlock = unlock
	return n, nil
}

// LockFile, in the data directory, is held while a node runs.
const LockFile = "serve.lock"

// ErrRunning: another node runs on the data directory.
var ErrRunning = errors.New("berty serve is already running")

func start(cfg Config, lim Limits) (*Node, error) {
	// A server must listen where it is told: libp2p would start on the
	// addresses it could bind, and share a TCP port another process holds.
	if err := p2p.CheckListen(cfg.Listen); err != nil {
		return nil, fmt.Errorf("%w (another berty serve, or another program, on that port?)", err)
	}
	seed, err := loadIdentity(cfg.Dir)
	if err != nil {
		return nil, err
	}
	priv, err := p2p.Identity(seed)
	if err != nil {
		return nil, err
	}
	var announce []ma.Multiaddr
	for _, a := range cfg.Announce {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			return nil, fmt.Errorf("announce address %q: %w", a, err)
		}
		announce = append(announce, m)
	}
	// Enough connections for every device that holds a slot, and its
	// circuits, before the manager trims.
	cm, err := connmgr.NewConnManager(lim.Reservations*2, lim.Reservations*4, connmgr.WithGracePeriod(time.Minute))
	if err != nil {
		return nil, err
	}
	gate := &p2p.ClosingGate{}
	opts := append(p2p.BaseOptions(priv, cfg.Listen, gate),
		libp2p.ConnectionManager(cm),
		// It is the public side: it relays others, not itself, and it
		// answers AutoNAT dial-back requests.
		libp2p.DisableRelay(),
		libp2p.ForceReachabilityPublic(),
		libp2p.EnableNATService(),
	)
	if len(announce) > 0 {
		opts = append(opts, libp2p.AddrsFactory(func([]ma.Multiaddr) []ma.Multiaddr { return announce }))
	}
	if cfg.Registerer != nil {
		opts = append(opts, libp2p.PrometheusRegisterer(cfg.Registerer))
	} else {
		opts = append(opts, libp2p.DisableMetrics())
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("start libp2p: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{h: h, gate: gate, log: cfg.Logger, stop: cancel, done: make(chan struct{})}
	if !cfg.NoRelay {
		ropts := []relay.Option{
			relay.WithResources(lim.resources()),
			// The devices learn from the reservation how to reach the relay:
			// every address it has, private ones too (a relay on a LAN, or
			// in a test's namespaces, is as good as one on the internet).
			relay.WithReservationAddressFilter(func(ma.Multiaddr) bool { return true }),
		}
		if lim.Duration < 0 && lim.Data < 0 {
			ropts = append(ropts, relay.WithInfiniteLimits())
		}
		if len(cfg.Allow) > 0 {
			ropts = append(ropts, relay.WithACL(allowList(cfg.Allow)))
		}
		if n.relay, err = relay.New(h, ropts...); err != nil {
			n.Close()
			return nil, fmt.Errorf("start the relay: %w", err)
		}
	}
	if !cfg.NoDHT {
		if n.dht, err = dht.New(h, dht.Mode(dht.ModeServer), dht.ProtocolPrefix(p2p.DHTPrefix)); err != nil {
			n.Close()
			return nil, fmt.Errorf("start the DHT: %w", err)
		}
	}
	if !cfg.NoMailbox {
		if n.mbox, err = openMailbox(cfg.Dir, h, cfg.Mailbox, cfg.Allow, cfg.Logger); err != nil {
			n.Close()
			return nil, err
		}
		h.SetStreamHandler(p2p.MailboxProtocol, n.mbox.serve)
		go n.mbox.expireLoop(ctx)
	}
	go n.watch(ctx)
	return n, nil
}

// MailboxStats counts the entries the mailbox stored and served, and the
// requests it refused (zero without a mailbox).
func (n *Node) MailboxStats() MailboxStats {
	if n.mbox == nil {
		return MailboxStats{}
	}
	n.mbox.mu.Lock()
	defer n.mbox.mu.Unlock()
	return MailboxStats{Stored: n.mbox.stored, Served: n.mbox.served, Refused: n.mbox.refused}
}

// ID is the node's peer ID.
func (n *Node) ID() peer.ID { return n.h.ID() }

// Addrs are the node's addresses with its peer ID, as devices take them
// (--infra): one per transport and interface.
func (n *Node) Addrs() []string {
	var out []string
	for _, a := range n.h.Addrs() {
		out = append(out, a.Encapsulate(ma.StringCast("/p2p/"+n.h.ID().String())).String())
	}
	return out
}

// Peers is how many peers are connected now.
func (n *Node) Peers() int { return len(n.h.Network().Peers()) }

// Close stops the services and the host. Idempotent.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { n.closeErr = n.close() })
	return n.closeErr
}

func (n *Node) close() error {
	n.gate.Close()
	n.stop()
	var errs []error
	if n.dht != nil {
		errs = append(errs, n.dht.Close())
	}
	if n.relay != nil {
		errs = append(errs, n.relay.Close())
	}
	errs = append(errs, n.h.Close())
	if n.mbox != nil {
		errs = append(errs, n.mbox.close())
	}
	if n.unlock != nil {
		n.unlock()
	}
	return errors.Join(errs...)
}

// watch logs connections at debug and a summary every minute at info: an
// operator sees the node is used without a line per device.
func (n *Node) watch(ctx context.Context) {
	sub, err := n.h.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		return
	}
	defer sub.Close()
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-sub.Out():
			e := ev.(event.EvtPeerConnectednessChanged)
			n.log.Debug("peer", "id", e.Peer, "state", e.Connectedness.String())
		case <-tick.C:
			st := n.MailboxStats()
			n.log.Info("serving", "peers", n.Peers(), "mailbox_stored", st.Stored, "mailbox_served", st.Served, "mailbox_refused", st.Refused)
		}
	}
}

func (l Limits) withDefaults() Limits {
	if l.Reservations == 0 {
		l.Reservations = 1024
	}
	if l.PerIP == 0 {
		l.PerIP = 32
	}
	if l.Circuits == 0 {
		l.Circuits = 32
	}
	if l.Duration == 0 {
		l.Duration = 30 * time.Minute
	}
	if l.Data == 0 {
		l.Data = 64 << 20
	}
	return l
}

// resources are the relay's resources for the limits. A negative limit is
// "none": libp2p takes the largest value.
func (l Limits) resources() relay.Resources {
	r := relay.DefaultResources()
	r.MaxReservations = l.Reservations
	r.MaxReservationsPerIP = l.PerIP
	r.MaxReservationsPerASN = l.Reservations
	r.MaxCircuits = l.Circuits
	r.BufferSize = 16 << 10
	r.Limit = &relay.RelayLimit{Duration: l.Duration, Data: l.Data}
	if l.Duration < 0 {
		r.Limit.Duration = 1<<63 - 1
	}
	if l.Data < 0 {
		r.Limit.Data = 1<<63 - 1
	}
	return r
}

// allowList is a relay ACL: only the listed peers reserve, and a circuit
// is opened only between two of them.
type allowList []peer.ID

func (a allowList) AllowReserve(p peer.ID, _ ma.Multiaddr) bool { return slices.Contains(a, p) }
func (a allowList) AllowConnect(src peer.ID, _ ma.Multiaddr, dst peer.ID) bool {
	return slices.Contains(a, src) && slices.Contains(a, dst)
}

// loadIdentity reads the node's seed from dir, or makes one (written and
// synced to a temporary file, then renamed: a crash leaves the old file or
// the new one, never half of one).
func loadIdentity(dir string) ([32]byte, error) {
	var seed [32]byte
	if dir == "" {
		return seed, errors.New("infra: no data directory")
	}
	path := filepath.Join(dir, IdentityFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if len(b) != 32 {
			return seed, fmt.Errorf("%s: %d bytes, want 32: not a berty serve identity (move it away to start a new one, which changes the node's /p2p/ID)", path, len(b))
		}
		copy(seed[:], b)
		return seed, nil
	case !errors.Is(err, os.ErrNotExist):
		return seed, fmt.Errorf("read the identity: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return seed, fmt.Errorf("create the data directory: %w", err)
	}
	if _, err := rand.Read(seed[:]); err != nil {
		return seed, err
	}
	if err := fsync.WriteAtomic(path, seed[:]); err != nil {
		return seed, fmt.Errorf("write the identity: %w", err)
	}
	return seed, nil
}
