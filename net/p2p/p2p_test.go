package p2p_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/berty-go/berty/internal/wait"
	"github.com/berty-go/berty/net/p2p"
	"github.com/berty-go/berty/node"
	"github.com/berty-go/berty/store"
	"github.com/berty-go/berty/store/mem"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// device is a node on a real libp2p host on loopback.
type device struct {
	t    testing.TB
	name string
	st   store.Store
	n    *node.Node
	h    *p2p.Host

	mu  sync.Mutex      // guards got
	got map[string]bool // bodies delivered
	w   wait.Cond       // signalled on every delivery

	refusals chan p2p.Event // what the host refused, as it happens
	relays   []string       // Config.Relays of its host
	// mailboxes is Config.Mailboxes of its host.
	mailboxes []string
}

func newDevice(t testing.TB, name string, st store.Store, listen []string) *device {
	t.Helper()
	return newDeviceWith(t, name, listen, nil, nil)
}

// newDeviceWith starts a device on a new in-memory store whose host uses
// relays and mailboxes (Config.Relays, Config.Mailboxes).
func newDeviceWith(t testing.TB, name string, listen, relays, mailboxes []string) *device {
	t.Helper()
	d := &device{t: t, name: name, st: mem.New(), got: map[string]bool{}, refusals: make(chan p2p.Event, 1<<16), relays: relays, mailboxes: mailboxes}
	d.start(listen)
	return d
}

// befriend makes a and b contacts, and returns their conversation.
func befriend(t testing.TB, a, b *device) [32]byte {
	t.Helper()
	topic, err := a.n.AddContact(b.n.AccountKey(), b.name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.n.AddContact(a.n.AccountKey(), a.name); err != nil {
		t.Fatal(err)
	}
	return topic
}

// start opens the node on d's store, then its host (whose identity derives
// from the node's device seed), and attaches them.
func (d *device) start(listen []string) {
	t := d.t
	n, err := node.Open(node.Config{Store: d.st, Name: d.name, Deliver: func(dl node.Delivery) {
		d.mu.Lock()
		d.got[string(dl.Message.Body)] = true
		d.mu.Unlock()
		d.w.Signal()
	}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := p2p.New(p2p.Config{
		Seed:      n.PeerSeed(),
		Listen:    listen,
		Relays:    d.relays,
		Mailboxes: d.mailboxes,
		Logger:    testLogger(d.name),
		// A long period: tests must pass on the event-driven syncs alone.
		SyncInterval: time.Hour,
		Observe: func(e p2p.Event) {
			select {
			case d.refusals <- e:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Attach(h); err != nil {
		t.Fatal(err)
	}
	if err := h.Serve(func(topic [32]byte, raws [][]byte) (p2p.Delivered, error) {
		st, err := n.Receive(topic, raws)
		return p2p.Delivered{Appended: st.Appended, Waiting: st.Held > 0 || st.Refused > 0}, err
	}, n); err != nil {
		t.Fatal(err)
	}
	d.n, d.h = n, h
}

func (d *device) stop() {
	d.h.Close()
	d.n.Close()
}

// waitFor blocks until d has received every body, or fails after a deadline
// (a deadline on the wait itself, not a sleep: the test proceeds the moment
// the messages are there).
func (d *device) waitFor(bodies ...string) {
	d.t.Helper()
	missing := func() int {
		d.mu.Lock()
		defer d.mu.Unlock()
		n := 0
		for _, b := range bodies {
			if !d.got[b] {
				n++
			}
		}
		return n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if d.w.Until(ctx, func() bool { return missing() == 0 }) != nil {
		d.t.Fatalf("%s: %d of %d messages missing after 20 s", d.name, missing(), len(bodies))
	}
}

func connect(t *testing.T, a, b *device) {
	t.Helper()
	if err := a.h.Connect(context.Background(), b.h.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
}

func bodies(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s %d", prefix, i)
	}
	return out
}

// pair makes alice and bob contacts over real libp2p on loopback.
func pair(t *testing.T, listen []string) (alice, bob *device, topic [32]byte) {
	t.Helper()
	alice = newDevice(t, "alice", mem.New(), listen)
	bob = newDevice(t, "bob", mem.New(), listen)
	t.Cleanup(func() { alice.stop(); bob.stop() })
	connect(t, alice, bob)
	return alice, bob, befriend(t, alice, bob)
}

func sendAll(t testing.TB, d *device, topic [32]byte, msgs []string, batch int) {
	t.Helper()
	for i := 0; i < len(msgs); i += batch {
		var b [][]byte
		for _, m := range msgs[i:min(i+batch, len(msgs))] {
			b = append(b, []byte(m))
		}
		if _, err := d.n.SendBatch(topic, b); err != nil {
			t.Fatal(err)
		}
	}
}

// TestChatOverLoopback: a contact conversation both ways over real libp2p,
// on TCP and on QUIC, including the first message sent before the other
// side's device was known.
func TestChatOverLoopback(t *testing.T) {
	for _, tc := range []struct{ name, addr string }{
		{"tcp", "/ip4/127.0.0.1/tcp/0"},
		{"quic", "/ip4/127.0.0.1/udp/0/quic-v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alice, bob, topic := pair(t, []string{tc.addr})
			msgs := bodies("alice", 300)
			sendAll(t, alice, topic, msgs, 50)
			bob.waitFor(msgs...)
			sendAll(t, bob, topic, []string{"bob: got them all"}, 1)
			alice.waitFor("bob: got them all")
		})
	}
}

// TestNATOptions: with the NAT options on (relay client, hole punching,
// AutoNAT v2) a host starts and closes without leaving goroutines behind.
// (Exercising relays needs a NAT, which loopback does not have.)
func TestNATOptions(t *testing.T) {
	a, err := p2p.New(p2p.Config{NAT: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCatchUpAfterOffline: bob is offline while alice writes 1 000
// messages; when bob comes back (same store, new host), he gets all of them
// by sync, without alice writing anything more — the tail of a burst is
// never stuck until the next write.
func TestCatchUpAfterOffline(t *testing.T) {
	alice, bob, topic := pair(t, nil)
	sendAll(t, alice, topic, []string{"before"}, 1)
	bob.waitFor("before")
	bob.stop()
	msgs := bodies("while bob was away", 1000)
	sendAll(t, alice, topic, msgs, 100)
	bob.start(nil)
	connect(t, bob, alice)
	bob.waitFor(msgs...)
	if bob.h.Stats().SyncFetched < 1000 {
		t.Errorf("bob fetched %d entries by sync, want at least 1000", bob.h.Stats().SyncFetched)
	}
}

// testLogger logs a host to stderr when BERTY_TEST_LOG is set (to debug a
// test), nowhere otherwise.
func testLogger(name string) *slog.Logger {
	if os.Getenv("BERTY_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("device", name)
}
