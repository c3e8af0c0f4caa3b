package messenger_test

import (
	"crypto/rand"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ncruces/go-sqlite3/driver"
	"github.com/ncruces/go-sqlite3/ext/fts5"

	"github.com/berty-go/berty/messenger"
	"github.com/berty-go/berty/net/memnet"
	"github.com/berty-go/berty/node"
	"github.com/berty-go/berty/store"
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
	// got is every message the node handed over, as delivered (bodies
	// before any scrub): what a replay in another order starts from.
	got []store.Message
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
	d := &dev{name: name, st: st}
	d.ep = w.hub.Attach(func(topic [32]byte, raws [][]byte) error {
		_, err := d.n.Receive(topic, raws)
		return err
	})
	w.open(d)
	if of != nil {
		if err := of.n.ApproveDevice(d.n.DeviceKey()); err != nil {
			w.t.Fatal(err)
		}
	}
	return d
}

// open installs the messenger on d's store and opens the node over it.
func (w *world) open(d *dev) {
	w.t.Helper()
	m, err := messenger.New(d.st, messenger.Config{})
	if err != nil {
		w.t.Fatal(err)
	}
	deliver, events := m.Handlers()
	record := func(dl node.Delivery) {
		d.got = append(d.got, storeMessage(dl))
		deliver(dl)
	}
	n, err := node.Open(node.Config{Store: d.st, Name: d.name, Transport: d.ep, Deliver: record, Events: events})
	if err != nil {
		w.t.Fatal(err)
	}
	d.m, d.n = m, n
	m.Attach(n)
	st := d.st
	w.t.Cleanup(func() { n.Close(); m.Close(); st.Close() })
}

// restart closes d's node and store and opens them again from the file,
// the messenger included: what a device does after a crash or an upgrade.
// change, if not nil, runs on the database between the two.
func (w *world) restart(d *dev, change func(db *sql.DB) error) {
	w.t.Helper()
	if err := d.n.Close(); err != nil {
		w.t.Fatal(err)
	}
	if err := d.m.Close(); err != nil {
		w.t.Fatal(err)
	}
	if err := d.st.Close(); err != nil {
		w.t.Fatal(err)
	}
	if change != nil {
		db, err := driver.Open("file:"+filepath.Join(w.dir, d.name+".db"), fts5.Register)
		if err != nil {
			w.t.Fatal(err)
		}
		err = change(db)
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			w.t.Fatal(err)
		}
	}
	st, err := sqlite.Open(filepath.Join(w.dir, d.name+".db"))
	if err != nil {
		w.t.Fatal(err)
	}
	d.st = st
	w.open(d)
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

func storeMessage(dl node.Delivery) store.Message {
	m := dl.Message
	return store.Message{Topic: dl.Topic, Device: m.Author, Seq: m.Seq, Member: m.Member, Lamport: m.Lamport,
		ID: m.ID, Own: m.Own, Body: m.Body}
}

// contact makes a and b contacts (each names the other by its dev name) and
// returns their conversation.
func (w *world) contact(a, b *dev) [32]byte {
	w.t.Helper()
	topic := must[[32]byte](w.t)(a.n.AddContact(b.n.AccountKey(), b.name))
	if got := must[[32]byte](w.t)(b.n.AddContact(a.n.AccountKey(), a.name)); got != topic {
		w.t.Fatalf("%s and %s disagree on their conversation", a.name, b.name)
	}
	w.run()
	return topic
}

// group makes a multi-member group created by owner that the others join.
func (w *world) group(name string, owner *dev, others ...*dev) [32]byte {
	w.t.Helper()
	topic := must[[32]byte](w.t)(owner.n.CreateGroup(name))
	for _, d := range others {
		inv, err := owner.n.Invite(topic)
		if err != nil {
			w.t.Fatal(err)
		}
		if _, err := d.n.Join(inv); err != nil {
			w.t.Fatalf("%s joins %s: %v", d.name, name, err)
		}
	}
	w.run()
	return topic
}

// history is a conversation's whole history, oldest first, read the way a
// UI does: the newest page, then "load older" from the last one's cursor.
func (d *dev) history(t *testing.T, topic [32]byte, page int) []messenger.Interaction {
	t.Helper()
	var out []messenger.Interaction
	var before *messenger.Cursor
	for {
		p, err := d.m.History(topic, before, page)
		if err != nil {
			t.Fatalf("%s: history: %v", d.name, err)
		}
		if len(p) > page {
			t.Fatalf("%s: page of %d, asked for %d", d.name, len(p), page)
		}
		out = append(out, p...)
		if len(p) < page {
			break
		}
		c := p[len(p)-1].Cursor()
		before = &c
	}
	slices.Reverse(out)
	return out
}

// text sends a text and fails the test on an error.
func (d *dev) text(t *testing.T, topic [32]byte, body string, replyTo *[32]byte) [32]byte {
	t.Helper()
	id, err := d.m.SendText(topic, body, replyTo)
	if err != nil {
		t.Fatalf("%s sends %q: %v", d.name, body, err)
	}
	return id
}

// find returns the interaction id in its, or fails.
func find(t *testing.T, its []messenger.Interaction, id [32]byte) messenger.Interaction {
	t.Helper()
	for _, it := range its {
		if it.ID == id {
			return it
		}
	}
	t.Fatalf("interaction %x not in the history", id[:4])
	return messenger.Interaction{}
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
