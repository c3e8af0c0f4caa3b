package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/core/state"
	"github.com/berty-go/berty/internal/device"
	"github.com/berty-go/berty/internal/qr"
	"github.com/berty-go/berty/internal/wait"
	"github.com/berty-go/berty/messenger"
	"github.com/berty-go/berty/net/memnet"
	"github.com/berty-go/berty/net/p2p"
	"github.com/berty-go/berty/node"
	"github.com/berty-go/berty/store/sqlite"
)

// peer is one demo account on one device.
type peer struct {
	name  string
	path  string
	st    *sqlite.Store
	n     *node.Node
	close func()
	undec atomic.Int64 // messages this device could not decrypt
	ep    *memnet.Endpoint
	dev   *device.Device
	m     *messenger.Messenger
}

const (
	stateIncoming = state.ContactIncoming
	stateAccepted = state.ContactAccepted
)

// waiter lets the scenario wait for a condition that deliveries make true.
type waiter struct{ wait.Cond }

func newWaiter() *waiter { return &waiter{} }

func (w *waiter) bump() { w.Signal() }

// until waits for ok to hold, re-checking after every delivery, for at most
// limit; a zero limit checks once (the in-process network has delivered all
// there is by then).
func (w *waiter) until(what string, limit time.Duration, ok func() bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if err := w.Until(ctx, ok); err != nil {
		return fmt.Errorf("timed out after %s waiting for %s", limit, what)
	}
	return nil
}

// world is the network the demo runs on.
type world interface {
	open(p *peer, w *waiter) error
	reopen(p *peer, w *waiter) error
	connect(ps []*peer) error
	settle() error // deliver what is in flight, where that is up to us
	limit() time.Duration
	describe() string
	// befriend makes from and to contacts: by a contact request over the
	// network where there is one (§11), else by deriving the contact group
	// on both sides.
	befriend(w io.Writer, from, to *peer, wt *waiter, qr bool) error
	// link makes phone a new device of p's account (§11.7); errNoLinking
	// where the network cannot carry it.
	link(w io.Writer, p, phone *peer, wt *waiter) error
}

var errNoLinking = errors.New("device linking needs the libp2p network")

func nodeConfig(p *peer, w *waiter) node.Config {
	return node.Config{
		Name:    p.name,
		Deliver: func(node.Delivery) { w.bump() },
		Events: func(_ [32]byte, ev replica.Event) {
			if ev.Kind == replica.EventUndecryptable {
				p.undec.Add(1)
			}
			w.bump()
		},
	}
}

// memWorld is the in-process network: shuffled, duplicated delivery.
type memWorld struct {
	hub       *memnet.Hub
	seed      uint64
	dup       float64
	plaintext bool
}

func (m *memWorld) open(p *peer, w *waiter) error {
	st, err := device.OpenStore(device.Config{Path: p.path, Plaintext: m.plaintext})
	if err != nil {
		return err
	}
	var n *node.Node
	deliver := func(topic [32]byte, raws [][]byte) error {
		_, err := n.Receive(topic, raws)
		return err
	}
	if p.ep == nil {
		p.ep = m.hub.Attach(deliver)
	} else {
		p.ep.SetDeliver(deliver)
	}
	msgr, err := messenger.New(st, messenger.Config{})
	if err != nil {
		st.Close()
		return fmt.Errorf("open %s: %w", p.name, err)
	}
	cfg := nodeConfig(p, w)
	md, me := msgr.Handlers()
	deliverNext, eventsNext := cfg.Deliver, cfg.Events
	cfg.Deliver = func(d node.Delivery) { md(d); deliverNext(d) }
	cfg.Events = func(t [32]byte, ev replica.Event) { me(t, ev); eventsNext(t, ev) }
	cfg.Store, cfg.Transport = st, p.ep
	if n, err = node.Open(cfg); err != nil {
		msgr.Close()
		st.Close()
		return fmt.Errorf("open %s: %w", p.name, err)
	}
	msgr.Attach(n)
	p.st, p.n, p.m = st, n, msgr
	p.close = func() { n.Close(); msgr.Close(); st.Close() }
	return nil
}

func (m *memWorld) reopen(p *peer, w *waiter) error { p.close(); return m.open(p, w) }
func (m *memWorld) connect([]*peer) error           { return nil }
func (m *memWorld) settle() error                   { return m.hub.Run() }
func (m *memWorld) limit() time.Duration            { return 0 }
func (m *memWorld) befriend(w io.Writer, from, to *peer, _ *waiter, _ bool) error {
	fmt.Fprintf(w, "   (in-process network: no handshake transport, so both sides derive the contact group directly)\n")
	if _, err := from.n.AddContact(to.n.AccountKey(), to.name); err != nil {
		return err
	}
	_, err := to.n.AddContact(from.n.AccountKey(), from.name)
	return err
}

func (m *memWorld) link(io.Writer, *peer, *peer, *waiter) error { return errNoLinking }

func (m *memWorld) describe() string {
	return fmt.Sprintf("in-process network: shuffled, %.0f%% duplicated, seed %d", m.dup*100, m.seed)
}

// p2pWorld runs every device on a real libp2p host on loopback TCP.
type p2pWorld struct{ plaintext bool }

func (pw p2pWorld) open(p *peer, w *waiter) error {
	d, err := device.Open(device.Config{
		Path: p.path, Name: p.name, Plaintext: pw.plaintext,
		Net:       p2p.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Observe: func(p2p.Event) { w.bump() }},
		Node:      nodeConfig(p, w),
		OnReceive: w.bump,
	})
	if err != nil {
		return fmt.Errorf("open %s: %w", p.name, err)
	}
	p.dev, p.st, p.n, p.m = d, d.Store, d.Node, d.Messenger
	p.close = func() { d.Close() }
	return nil
}

func (x p2pWorld) reopen(p *peer, w *waiter) error { p.close(); return x.open(p, w) }

func (p2pWorld) connect(ps []*peer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, a := range ps {
		for _, b := range ps[i+1:] {
			if err := a.dev.Host.Connect(ctx, b.dev.Host.Addrs()[0]); err != nil {
				return fmt.Errorf("connect %s to %s: %w", a.name, b.name, err)
			}
		}
	}
	return nil
}

func (x p2pWorld) befriend(w io.Writer, from, to *peer, wt *waiter, drawQR bool) error {
	l, err := to.dev.ContactLink()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "   %s shares her link (%d characters, fits a QR code):\n     %s\n", to.name, len(l.URL()), l.URL())
	if drawQR {
		code, err := qr.Terminal(l.Compact())
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "   as a QR code (its compact form, %s…):\n%s", l.Compact()[:12], code)
	}
	parsed, err := link.ParseContact(l.URL())
	if err != nil {
		return err
	}
	if _, err := from.dev.RequestContact(parsed); err != nil {
		return err
	}
	st := func(p, of *peer) state.ContactState {
		for _, c := range p.n.Contacts() {
			if c.Account == of.n.AccountKey() {
				return c.State
			}
		}
		return 0
	}
	if err := wt.until("the request", x.limit(), func() bool { return st(to, from) == stateIncoming }); err != nil {
		return err
	}
	fmt.Fprintf(w, "   %s's request found %s at her rendezvous point (Noise XX handshake); %s sees it as %v\n",
		from.name, to.name, to.name, st(to, from))
	if err := to.n.AcceptContact(from.n.AccountKey()); err != nil {
		return err
	}
	if err := wt.until("both sides to be contacts", x.limit(), func() bool {
		return st(to, from) == stateAccepted && st(from, to) == stateAccepted
	}); err != nil {
		return err
	}
	fmt.Fprintf(w, "   %s accepts; %s sees her join the contact group: both now %v\n", to.name, from.name, st(from, to))
	return nil
}

func (x p2pWorld) link(w io.Writer, p, phone *peer, wt *waiter) error {
	shown := make(chan *link.Device, 1)
	type result struct {
		d   *device.Device
		err error
	}
	done := make(chan result, 1)
	go func() {
		d, err := device.Link(context.Background(), device.LinkConfig{
			Config: device.Config{Path: phone.path, Plaintext: x.plaintext,
				Net:  p2p.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Peers: []string{p.dev.Host.Addrs()[0]}},
				Node: nodeConfig(phone, wt), OnReceive: wt.bump, OnChange: wt.bump},
			DeviceName: phone.name,
			Show:       func(l *link.Device) { shown <- l },
		})
		done <- result{d, err}
	}()
	var l *link.Device
	select {
	case l = <-shown:
	case r := <-done:
		return r.err
	}
	fmt.Fprintf(w, "   the new device shows a one-time link (valid %s): %s…\n", device.DefaultLinkTTL, l.Compact()[:24])
	ctx, cancel := context.WithTimeout(context.Background(), x.limit())
	defer cancel()
	if _, err := p.dev.Approve(ctx, l); err != nil {
		return err
	}
	r := <-done
	if r.err != nil {
		return r.err
	}
	phone.dev, phone.st, phone.n, phone.m = r.d, r.d.Store, r.d.Node, r.d.Messenger
	phone.close = func() { r.d.Close() }
	fmt.Fprintf(w, "   %s's device approves it over Noise (NKpsk0): the new device holds the account, with its own device key %s…\n",
		p.name, phone.n.DeviceKey())
	return nil
}

func (p2pWorld) settle() error        { return nil }
func (p2pWorld) limit() time.Duration { return 30 * time.Second }
func (p2pWorld) describe() string {
	return "libp2p on loopback TCP: gossipsub + sync, Noise, yamux"
}
