package messenger_test

import (
	"crypto/rand"
	"path/filepath"
	"testing"

	"github.com/berty-go/berty/messenger"
	"github.com/berty-go/berty/net/memnet"
	"github.com/berty-go/berty/node"
	"github.com/berty-go/berty/store/sqlite"
)

// world is several devices on SQLite files and the in-process network,
// which delivers in a seeded random order with duplicates.
type world struct {
	t   *testing.T
	hub *memnet.Hub
	dir string
}

func newWorld(t *testing.T, seed uint64) *world {
	return &world{t: t, hub: memnet.New(seed, 0.3, 8), dir: t.TempDir()}
}

// dev is one device: its store, messenger and node.
type dev struct {
	name string
	st   *sqlite.Store
	m    *messenger.Messenger
	n    *node.Node
	ep   *memnet.Endpoint
}

// add opens an account, or (of non-nil) a new device of of's account,
// approved by of.
func (w *world) add(name string, of *dev) *dev {
	w.t.Helper()
	st, err := sqlite.Open(filepath.Join(w.dir, name+".db"))
	if err != nil {
		w.t.Fatal(err)
	}
	if of != nil {
		acc, err := of.st.Account()
		if err != nil {
			w.t.Fatal(err)
		}
		rand.Read(acc.DeviceSeed[:])
		if err := st.SetAccount(acc); err != nil {
			w.t.Fatal(err)
		}
	}
	m, err := messenger.New(st, messenger.Config{})
	if err != nil {
		w.t.Fatal(err)
	}
	d := &dev{name: name, st: st, m: m}
	d.ep = w.hub.Attach(func(topic [32]byte, raws [][]byte) error {
		_, err := d.n.Receive(topic, raws)
		return err
	})
	deliver, events := m.Handlers()
	n, err := node.Open(node.Config{Store: st, Name: name, Transport: d.ep, Deliver: deliver, Events: events})
	if err != nil {
		w.t.Fatal(err)
	}
	d.n = n
	m.Attach(n)
	if of != nil {
		if err := of.n.ApproveDevice(n.DeviceKey()); err != nil {
			w.t.Fatal(err)
		}
	}
	w.t.Cleanup(func() { n.Close(); st.Close() })
	return d
}

func (w *world) run() {
	w.t.Helper()
	if err := w.hub.Run(); err != nil {
		w.t.Fatal(err)
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
