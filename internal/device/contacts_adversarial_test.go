package device_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berty-go/berty/core/handshake"
	"github.com/berty-go/berty/core/keys"
	"github.com/berty-go/berty/core/link"
	"github.com/berty-go/berty/core/rendezvous"
	"github.com/berty-go/berty/core/state"
	"github.com/berty-go/berty/internal/device"
	"github.com/berty-go/berty/net/p2p"
	"github.com/berty-go/berty/node"
)

// attacker is a bare libp2p host that speaks the rendezvous protocol by
// hand, connected to its target.
type attacker struct {
	t testing.TB
	h *p2p.Host
}

func newAttacker(t testing.TB, target *dev) *attacker {
	t.Helper()
	var seed [32]byte
	rand.Read(seed[:])
	h, err := p2p.New(p2p.Config{Seed: seed, Listen: []string{"/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	if err := h.Connect(context.Background(), target.d.Host.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	return &attacker{t: t, h: h}
}

// point is where l's responder answers now.
func point(l *link.Contact) [32]byte {
	pts, _ := rendezvous.Current(l.Seed[:], rendezvous.LabelContact, uint64(time.Now().Unix()))
	return pts[0]
}

// exchange runs fn on one stream at l's point.
func (a *attacker) exchange(l *link.Contact, fn func(e *p2p.Exchange) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	key := p2p.PointKey{Key: l.Seed[:], Label: rendezvous.LabelContact}
	return a.h.Reach(ctx, key, [][32]byte{point(l)}, func(_ [32]byte, e *p2p.Exchange) error { return fn(e) })
}

// request runs a whole contact request as account, returning the frames it
// sent (hello, card) so that a test can replay them.
func (a *attacker) request(account *keys.Pair, name string, l *link.Contact) (sent [][]byte, st handshake.Status, err error) {
	err = a.exchange(l, func(e *p2p.Exchange) error {
		r, err := handshake.NewRequester(account, name, l.Account, point(l), rand.Reader)
		if err != nil {
			return err
		}
		msg, _ := r.Hello()
		sent = append(sent, msg)
		if err := e.Write(msg); err != nil {
			return err
		}
		if msg, err = e.Read(); err != nil {
			return err
		}
		if msg, err = r.Answer(msg); err != nil {
			return err
		}
		sent = append(sent, msg)
		if err := e.Write(msg); err != nil {
			return err
		}
		if msg, err = e.Read(); err != nil {
			return err
		}
		st, err = r.Done(msg)
		return err
	})
	return sent, st, err
}

func newKey(t testing.TB) *keys.Pair {
	k, err := keys.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// incoming counts the requests waiting on x.
func incoming(x *dev) int {
	n := 0
	for _, c := range x.d.Node.Contacts() {
		if c.State == state.ContactIncoming {
			n++
		}
	}
	return n
}

// stillHealthy checks that x still takes a real request and chats.
func stillHealthy(t *testing.T, x *dev) {
	t.Helper()
	carol := newDev(t, "carol")
	connect(t, carol, x)
	if _, err := carol.d.RequestContact(x.link()); err != nil {
		t.Fatal(err)
	}
	x.until("carol's request", func() bool { return x.contactState(carol) == state.ContactIncoming })
	if err := x.d.Node.AcceptContact(carol.d.Node.AccountKey()); err != nil {
		t.Fatal(err)
	}
	chat(t, x, carol)
}

// TestContactLinkForAnotherKey: mallory signs a link with her own key but
// alice's seed (and name), so that requests reach alice's point while
// expecting mallory. The handshake fails at the requester — alice is not
// the account of the link — bob's status says so, and alice records
// nothing.
func TestContactLinkForAnotherKey(t *testing.T) {
	alice, bob := newDev(t, "alice"), newDev(t, "bob")
	real := alice.link()
	forged, err := link.NewContact(newKey(t), real.Seed, "alice")
	if err != nil {
		t.Fatal(err)
	}
	connect(t, bob, alice)
	if _, err := bob.d.RequestContact(forged); err != nil {
		t.Fatal(err)
	}
	bob.until("a failed try", func() bool {
		rs := bob.d.Requests()
		return len(rs) == 1 && strings.Contains(rs[0].LastError, "not the account of the link")
	})
	if n := len(alice.d.Node.Contacts()); n != 0 {
		t.Fatalf("alice recorded %d contacts from a forged link", n)
	}
	alice.until("the aborted exchange counted", func() bool { return alice.d.Host.Stats().PointRefused > 0 })
}

// TestContactHandshakeAbuse: replayed, truncated, oversized and garbage
// handshakes at alice's point are refused and counted, none records
// anything, and alice then still takes a real request.
func TestContactHandshakeAbuse(t *testing.T) {
	alice := newDev(t, "alice")
	l := alice.link()
	m := newAttacker(t, alice)
	mallory := newKey(t)
	sent, st, err := m.request(mallory, "mallory", l)
	if err != nil || st != handshake.StatusReceived {
		t.Fatalf("mallory's genuine request: %v, %v", st, err)
	}
	alice.until("mallory's request", func() bool { return incoming(alice) == 1 })
	if err := alice.d.Node.DiscardContact(mallory.Public()); err != nil {
		t.Fatal(err)
	}
	refused := alice.d.Host.Stats().PointRefused
	abuse := map[string]func(e *p2p.Exchange) error{
		"replayed handshake": func(e *p2p.Exchange) error {
			if err := e.Write(sent[0]); err != nil {
				return err
			}
			if _, err := e.Read(); err != nil {
				return err
			}
			if err := e.Write(sent[1]); err != nil { // the card of the recorded run
				return err
			}
			_, err := e.Read()
			return err
		},
		"truncated hello": func(e *p2p.Exchange) error {
			if err := e.Write(sent[0][:10]); err != nil {
				return err
			}
			_, err := e.Read()
			return err
		},
		"garbage card": func(e *p2p.Exchange) error {
			r, _ := handshake.NewRequester(mallory, "mallory", l.Account, point(l), rand.Reader)
			msg, _ := r.Hello()
			if err := e.Write(msg); err != nil {
				return err
			}
			if _, err := e.Read(); err != nil {
				return err
			}
			if err := e.Write(make([]byte, 200)); err != nil {
				return err
			}
			_, err := e.Read()
			return err
		},
		"oversized frame": func(e *p2p.Exchange) error {
			if err := e.Write(make([]byte, handshake.MaxMessage+1)); err != nil {
				return err
			}
			_, err := e.Read()
			return err
		},
	}
	for name, fn := range abuse {
		if err := m.exchange(l, fn); err == nil {
			t.Errorf("%s: alice answered to the end", name)
		}
	}
	alice.until("every abuse counted", func() bool { return alice.d.Host.Stats().PointRefused >= refused+int64(len(abuse)) })
	if c := alice.d.Node.Contacts(); len(c) != 1 || c[0].State != state.ContactDiscarded {
		t.Fatalf("after the abuse alice's contacts are %+v: the discarded request came back or others appeared", c)
	}
	stillHealthy(t, alice)
}

// TestBlockedContactRetrying: alice blocks bob; his new requests are
// answered like any other — he cannot tell — and dropped.
func TestBlockedContactRetrying(t *testing.T) {
	alice, bob := newDev(t, "alice"), newDev(t, "bob")
	connect(t, bob, alice)
	l := alice.link()
	if err := alice.d.Node.BlockContact(bob.d.Node.AccountKey()); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := bob.d.RequestContact(l); err != nil {
			t.Fatal(err)
		}
		bob.until("the request delivered", func() bool { return bob.contactState(alice) == state.ContactSent })
		if err := bob.d.Node.CancelContactRequest(alice.d.Node.AccountKey()); err != nil {
			t.Fatal(err)
		}
	}
	if st := alice.contactState(bob); st != state.ContactBlocked {
		t.Fatalf("bob is %v at alice, want blocked", st)
	}
	if _, err := alice.d.Node.RequestContact(&link.Contact{Account: bob.d.Node.AccountKey()}); !errors.Is(err, node.ErrBlocked) {
		t.Errorf("alice requests the account she blocked: %v", err)
	}
	if err := alice.d.Node.UnblockContact(bob.d.Node.AccountKey()); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.d.RequestContact(l); err != nil {
		t.Fatal(err)
	}
	alice.until("bob's request once unblocked", func() bool { return alice.contactState(bob) == state.ContactIncoming })
}

// TestContactRequestFlood: 300 made-up accounts request alice at once from
// one host (someone posted her link). At most node.MaxIncoming requests
// wait; the others are told to come back later (Busy) or turned away at the
// door. Her existing contact still chats with her; a real request waits,
// shown as busy, until she discards the flood, then goes through.
func TestContactRequestFlood(t *testing.T) {
	alice, bob := newDev(t, "alice"), newDev(t, "bob")
	connect(t, bob, alice)
	l := alice.link()
	if _, err := bob.d.RequestContact(l); err != nil {
		t.Fatal(err)
	}
	alice.until("bob's request", func() bool { return alice.contactState(bob) == state.ContactIncoming })
	if err := alice.d.Node.AcceptContact(bob.d.Node.AccountKey()); err != nil {
		t.Fatal(err)
	}
	// Four attacking hosts, two requests in flight each: one peer gets two
	// exchanges at once at most (§11.4), so a flood spreads over peers.
	var ms []*attacker
	for range 4 {
		ms = append(ms, newAttacker(t, alice))
	}
	var received, busy, failed atomic.Int64
	var wg sync.WaitGroup
	work := make(chan int)
	for w := range 8 {
		m := ms[w%len(ms)]
		wg.Go(func() {
			for range work {
				_, st, err := m.request(newKey(t), "flood", l)
				switch {
				case err != nil:
					failed.Add(1)
				case st == handshake.StatusBusy:
					busy.Add(1)
				default:
					received.Add(1)
				}
			}
		})
	}
	for i := range 300 {
		work <- i
	}
	close(work)
	wg.Wait()
	t.Logf("flood: %d received, %d busy, %d turned away", received.Load(), busy.Load(), failed.Load())
	if n := incoming(alice); n != node.MaxIncoming || received.Load() != node.MaxIncoming {
		t.Fatalf("%d requests wait at alice (%d answered received), want exactly %d", n, received.Load(), node.MaxIncoming)
	}
	if busy.Load() == 0 {
		t.Error("no request was told to come back later")
	}
	chat(t, alice, bob)

	carol := newDev(t, "carol")
	connect(t, carol, alice)
	if _, err := carol.d.RequestContact(l); err != nil {
		t.Fatal(err)
	}
	carol.until("a busy answer, shown", func() bool {
		rs := carol.d.Requests()
		return len(rs) == 1 && strings.Contains(rs[0].LastError, "busy")
	})
	for _, c := range alice.d.Node.Contacts() {
		if c.State == state.ContactIncoming {
			if err := alice.d.Node.DiscardContact(c.Account); err != nil {
				t.Fatal(err)
			}
		}
	}
	alice.until("carol's request after the clean-up", func() bool { return alice.contactState(carol) == state.ContactIncoming })
}

// TestContactLinkReset: after alice resets her link, a request to the old
// one finds no one (and says so) while the new one works; her existing
// contact is unaffected.
func TestContactLinkReset(t *testing.T) {
	alice, bob, carol := newDev(t, "alice"), newDev(t, "bob"), newDev(t, "carol")
	connect(t, bob, alice)
	connect(t, carol, alice)
	old := alice.link()
	if _, err := bob.d.RequestContact(old); err != nil {
		t.Fatal(err)
	}
	alice.until("bob's request", func() bool { return alice.contactState(bob) == state.ContactIncoming })
	if err := alice.d.Node.AcceptContact(bob.d.Node.AccountKey()); err != nil {
		t.Fatal(err)
	}
	chat(t, alice, bob)
	fresh, err := alice.d.ResetContactLink()
	if err != nil {
		t.Fatal(err)
	}
	if fresh.Seed == old.Seed || fresh.Account != old.Account {
		t.Fatal("the reset link keeps the seed or changes the account")
	}
	if _, err := carol.d.RequestContact(old); err != nil {
		t.Fatal(err)
	}
	carol.until("a failed try", func() bool {
		rs := carol.d.Requests()
		return len(rs) == 1 && rs[0].Attempts >= 1 && strings.Contains(rs[0].LastError, "not reachable")
	})
	if st := alice.contactState(carol); st != 0 {
		t.Fatalf("carol's request to the old link reached alice (%v)", st)
	}
	if err := carol.d.Node.CancelContactRequest(alice.d.Node.AccountKey()); err != nil {
		t.Fatal(err)
	}
	back, err := link.ParseContact(fresh.Compact())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := carol.d.RequestContact(back); err != nil {
		t.Fatal(err)
	}
	alice.until("carol's request", func() bool { return alice.contactState(carol) == state.ContactIncoming })
	if st := alice.contactState(bob); st != state.ContactAccepted {
		t.Errorf("bob is %v after the reset", st)
	}
}

// TestContactAcrossMidnight: the rendezvous point changes every day. Alice
// (the responder) is 40 minutes behind and still on the previous day while
// bob is already on the next; the request still meets her. A link shared on
// one day works on the next.
func TestContactAcrossMidnight(t *testing.T) {
	midnight := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	var aliceNow, bobNow atomic.Int64
	aliceNow.Store(midnight.Add(-40 * time.Minute).Unix())
	bobNow.Store(midnight.Add(10 * time.Minute).Unix())
	clock := func(v *atomic.Int64) func(*device.Config) {
		return func(c *device.Config) { c.Node.Now = func() time.Time { return time.Unix(v.Load(), 0) } }
	}
	alice := newDevWith(t, "alice", clock(&aliceNow))
	bob := newDevWith(t, "bob", clock(&bobNow))
	carol := newDevWith(t, "carol", clock(&bobNow))
	connect(t, bob, alice)
	connect(t, carol, alice)
	l := alice.link()
	if _, err := bob.d.RequestContact(l); err != nil {
		t.Fatal(err)
	}
	alice.until("bob's request across midnight", func() bool { return alice.contactState(bob) == state.ContactIncoming })

	// The next day at noon, everywhere: alice announces the new day's point
	// (re-read on any change), and carol's request with yesterday's link
	// meets her there.
	aliceNow.Store(midnight.Add(12 * time.Hour).Unix())
	bobNow.Store(midnight.Add(12 * time.Hour).Unix())
	if _, err := alice.d.ContactLink(); err != nil { // wakes alice's loop
		t.Fatal(err)
	}
	if _, err := carol.d.RequestContact(l); err != nil {
		t.Fatal(err)
	}
	alice.until("carol's request the next day", func() bool { return alice.contactState(carol) == state.ContactIncoming })
}
