package node_test

import (
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/berty-go/berty/core/replica"
	"github.com/berty-go/berty/net/memnet"
	"github.com/berty-go/berty/node"
	"github.com/berty-go/berty/store"
	"github.com/berty-go/berty/store/mem"
	"github.com/berty-go/berty/store/sqlite"
)

// device is one node of a test cluster, on a memnet endpoint.
type device struct {
	now   func() time.Time
	t     *testing.T
	name  string
	path  string // SQLite file, or "" for an in-memory store
	st    store.Store
	n     *node.Node
	ep    *memnet.Endpoint
	undec int
}

type cluster struct {
	t    *testing.T
	hub  *memnet.Hub
	dir  string
	real bool // SQLite stores instead of in-memory ones
	devs []*device
	skew time.Duration // every node's clock runs this far ahead of time.Now
}

func newCluster(t *testing.T, seed uint64, dup float64, real bool) *cluster {
	return &cluster{t: t, hub: memnet.New(seed, dup, 8), dir: t.TempDir(), real: real}
}

// add opens a new account, or a new device of an existing account (link),
// which link's device approves.
func (c *cluster) add(name string, link *device) *device { return c.open(name, link, true) }

// open is add, with or without link's approval: a device made from a
// stolen account secret has none.
func (c *cluster) open(name string, link *device, approve bool) *device {
	c.t.Helper()
	d := &device{t: c.t, name: name, now: func() time.Time { return time.Now().Add(c.skew) }}
	if c.real {
		// One file per device: an account's devices share a name.
		d.path = filepath.Join(c.dir, fmt.Sprintf("%s-%d.db", name, len(c.devs)))
	}
	d.openStore()
	if link != nil {
		acc, err := link.st.Account()
		if err != nil {
			c.t.Fatal(err)
		}
		acc.Name = name
		if _, err := rand.Read(acc.DeviceSeed[:]); err != nil {
			c.t.Fatal(err)
		}
		if err := d.st.SetAccount(acc); err != nil {
			c.t.Fatal(err)
		}
	}
	d.ep = c.hub.Attach(d.deliver)
	d.openNode()
	if link != nil && approve {
		// The linking handshake's approval (§5.7), without the handshake.
		if err := link.n.ApproveDevice(d.n.DeviceKey()); err != nil {
			c.t.Fatal(err)
		}
	}
	c.devs = append(c.devs, d)
	c.t.Cleanup(func() { d.n.Close(); d.st.Close() })
	return d
}

func (d *device) openStore() {
	d.t.Helper()
	if d.path == "" {
		if d.st == nil {
			d.st = mem.New()
		}
		return
	}
	st, err := sqlite.Open(d.path)
	if err != nil {
		d.t.Fatal(err)
	}
	d.st = st
}

func (d *device) openNode() {
	d.t.Helper()
	n, err := node.Open(node.Config{Store: d.st, Name: d.name, Transport: d.ep, Now: d.now,
		Events: func(_ [32]byte, ev replica.Event) {
			if ev.Kind == replica.EventUndecryptable {
				d.undec++
			}
		}})
	if err != nil {
		d.t.Fatalf("open %s: %v", d.name, err)
	}
	d.n = n
}

func (d *device) deliver(topic [32]byte, raws [][]byte) error {
	_, err := d.n.Receive(topic, raws)
	return err
}

// restart closes the node and its store and opens them again from disk (or
// from the same in-memory store), as after a crash between two calls.
func (d *device) restart() {
	d.t.Helper()
	d.n.Close()
	if d.path != "" {
		d.st.Close()
	}
	d.openStore()
	d.openNode()
}

func (c *cluster) run() {
	c.t.Helper()
	if err := c.hub.Run(); err != nil {
		c.t.Fatalf("delivery: %v", err)
	}
}

func (d *device) send(topic [32]byte, body string) {
	d.t.Helper()
	if _, err := d.n.Send(topic, []byte(body)); err != nil {
		d.t.Fatalf("%s sends %q: %v", d.name, body, err)
	}
}

// bodies returns the group's messages in display order.
func (d *device) bodies(topic [32]byte) []string {
	d.t.Helper()
	ms, err := d.n.Messages(topic, store.Cursor{}, 1<<20)
	if err != nil {
		d.t.Fatal(err)
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Body)
	}
	return out
}
