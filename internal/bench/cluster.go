package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/internal/device"
	"github.com/berty-go/berty/internal/wait"
	"github.com/berty-go/berty/net/memnet"
	"github.com/berty-go/berty/net/p2p"
	"github.com/berty-go/berty/node"
	"github.com/berty-go/berty/store"
	"github.com/berty-go/berty/store/mem"
)

// member is one benchmarked device.
type member struct {
	i     int
	path  string
	st    store.Store
	n     *node.Node
	dev   *device.Device
	ep    *memnet.Endpoint
	close func()

	w    wait.Cond  // signalled on every delivery and event
	mu   sync.Mutex // guards got and when
	got  int        // messages from others delivered
	when map[string]time.Time
}

func (m *member) deliver(d node.Delivery) {
	if d.Message.Own {
		return
	}
	now := time.Now()
	m.mu.Lock()
	m.got++
	if m.when != nil {
		m.when[string(d.Message.Body)] = now
	}
	m.mu.Unlock()
	m.w.Signal()
}

// waitGot blocks until the member has received n messages from others.
func (m *member) waitGot(ctx context.Context, n int) error {
	if m.w.Until(ctx, func() bool { return m.received() >= n }) != nil {
		return fmt.Errorf("member %d received %d of %d messages before the deadline", m.i, m.received(), n)
	}
	return nil
}

func (m *member) received() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.got
}

// cluster is a group of members on one network.
type cluster struct {
	o       Options
	dir     string
	hub     *memnet.Hub
	members []*member
	topic   [32]byte
}

func newCluster(o Options, dir string, n int) (*cluster, error) {
	c := &cluster{o: o, dir: dir}
	if o.Transport == "memnet" {
		c.hub = memnet.New(1, 0, 1024)
		c.hub.SetWindow(1)
		c.hub.Start()
	}
	for i := range n {
		m := &member{i: i, path: filepath.Join(dir, fmt.Sprintf("m%d.db", i))}
		if err := c.open(m); err != nil {
			c.close()
			return nil, err
		}
		c.members = append(c.members, m)
	}
	if err := c.connect(); err != nil {
		c.close()
		return nil, err
	}
	return c, c.formGroup()
}

func (c *cluster) open(m *member) error {
	ncfg := node.Config{Deliver: m.deliver, Events: func([32]byte, replica.Event) { m.w.Signal() }}
	switch c.o.Transport {
	case "memnet":
		st := m.st // an in-memory store survives its device's restart
		if st == nil {
			st = mem.New()
		}
		if c.o.Store == "sqlite" {
			s, err := device.OpenStore(device.Config{Path: m.path, Plaintext: c.o.Plaintext})
			if err != nil {
				return err
			}
			st = s
		}
		ncfg.Store = st
		n, err := node.Open(ncfg)
		if err != nil {
			return err
		}
		// Attach after Open: deliveries start as soon as topics are joined.
		deliver := func(topic [32]byte, raws [][]byte) error { _, err := n.Receive(topic, raws); return err }
		if m.ep == nil {
			m.ep = c.hub.Attach(deliver)
		} else {
			m.ep.SetDeliver(deliver)
			m.ep.SetOnline(true)
		}
		if err := n.Attach(m.ep); err != nil {
			return err
		}
		m.st, m.n = st, n
		m.close = func() {
			m.ep.SetOnline(false)
			n.Close()
			if c.o.Store == "sqlite" {
				st.Close()
			}
		}
	default:
		addr := "/ip4/127.0.0.1/tcp/0"
		if c.o.Transport == "quic" {
			addr = "/ip4/127.0.0.1/udp/0/quic-v1"
		}
		d, err := device.Open(device.Config{Path: m.path, Net: p2p.Config{Listen: []string{addr}}, Node: ncfg, NoMessenger: c.o.Protocol, Plaintext: c.o.Plaintext})
		if err != nil {
			return err
		}
		m.dev, m.st, m.n = d, d.Store, d.Node
		m.close = func() { d.Close() }
	}
	return nil
}

func (c *cluster) connect() error {
	if c.hub != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, a := range c.members {
		if a.dev == nil {
			continue
		}
		for _, b := range c.members[i+1:] {
			if b.dev == nil {
				continue
			}
			if err := a.dev.Host.Connect(ctx, b.dev.Host.Addrs()[0]); err != nil {
				return err
			}
		}
	}
	return nil
}

// formGroup creates a group with every member in it, and waits until each
// member knows all the others' devices (so every chain key is out).
func (c *cluster) formGroup() error {
	first := c.members[0]
	t, err := first.n.CreateGroup("bench")
	if err != nil {
		return err
	}
	inv, err := first.n.Invite(t)
	if err != nil {
		return err
	}
	for _, m := range c.members[1:] {
		if _, err := m.n.Join(inv); err != nil {
			return err
		}
	}
	c.topic = t
	// A joiner may write once it has synced the group far enough to see
	// itself a member (the inviter's record of its invitation, §5.5).
	ctx, cancel := context.WithTimeout(context.Background(), c.o.Timeout)
	defer cancel()
	for _, m := range c.members {
		if m.w.Until(ctx, func() bool {
			gi, err := m.n.Group(t)
			return err == nil && len(gi.Members) == len(c.members)
		}) != nil {
			return fmt.Errorf("member %d does not see the whole group before the deadline", m.i)
		}
	}
	// Everyone says hello; when each has the others' hellos, the group is
	// formed and every chain key has been handed out.
	for _, m := range c.members {
		if _, err := m.n.Send(t, []byte(fmt.Sprintf("hello from %d", m.i))); err != nil {
			return err
		}
	}
	return c.waitAll(len(c.members) - 1)
}

// waitAll waits until every online member has received n messages.
func (c *cluster) waitAll(n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.o.Timeout)
	defer cancel()
	for _, m := range c.members {
		if m.n == nil {
			continue
		}
		if err := m.waitGot(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

func (c *cluster) close() {
	for _, m := range c.members {
		if m.close != nil {
			m.close()
		}
	}
	if c.hub != nil {
		c.hub.Stop()
	}
}
