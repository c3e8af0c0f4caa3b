package demo

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/internal/device"
	"github.com/berty-go/berty/internal/wait"
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
}

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
}

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
	hub  *memnet.Hub
	seed uint64
	dup  float64
}

func (m *memWorld) open(p *peer, w *waiter) error {
	st, err := sqlite.Open(p.path)
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
	cfg := nodeConfig(p, w)
	cfg.Store, cfg.Transport = st, p.ep
	if n, err = node.Open(cfg); err != nil {
		st.Close()
		return fmt.Errorf("open %s: %w", p.name, err)
	}
	p.st, p.n = st, n
	p.close = func() { n.Close(); st.Close() }
	return nil
}

func (m *memWorld) reopen(p *peer, w *waiter) error { p.close(); return m.open(p, w) }
func (m *memWorld) connect([]*peer) error           { return nil }
func (m *memWorld) settle() error                   { return m.hub.Run() }
func (m *memWorld) limit() time.Duration            { return 0 }
func (m *memWorld) describe() string {
	return fmt.Sprintf("in-process network: shuffled, %.0f%% duplicated, seed %d", m.dup*100, m.seed)
}

// p2pWorld runs every device on a real libp2p host on loopback TCP.
type p2pWorld struct{}

func (p2pWorld) open(p *peer, w *waiter) error {
	d, err := device.Open(device.Config{
		Path: p.path, Name: p.name,
		Net:       p2p.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}},
		Node:      nodeConfig(p, w),
		OnReceive: w.bump,
	})
	if err != nil {
		return fmt.Errorf("open %s: %w", p.name, err)
	}
	p.dev, p.st, p.n = d, d.Store, d.Node
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

func (p2pWorld) settle() error        { return nil }
func (p2pWorld) limit() time.Duration { return 30 * time.Second }
func (p2pWorld) describe() string {
	return "libp2p on loopback TCP: gossipsub + sync, Noise, yamux"
}
