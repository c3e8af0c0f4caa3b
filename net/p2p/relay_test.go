package p2p_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berty-go/berty/infra"
	"github.com/berty-go/berty/net/p2p"
	"github.com/berty-go/berty/store/mem"
)

// startInfra runs a `berty serve` node on loopback.
func startInfra(t testing.TB, lim infra.Limits) *infra.Node {
	t.Helper()
	n, err := infra.Start(infra.Config{Dir: t.TempDir(), Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoDHT: true, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// relayedPair makes alice and bob contacts whose hosts listen nowhere: the
// only way between them is the relay, where each holds a slot.
func relayedPair(t testing.TB, relay *infra.Node) (alice, bob *device, topic [32]byte) {
	t.Helper()
	mk := func(name string) *device {
		d := newDeviceWith(t, name, []string{}, relay.Addrs(), nil)
		t.Cleanup(d.stop)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := d.h.WaitRelayed(ctx); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if direct := slices.DeleteFunc(d.h.Addrs(), func(a string) bool { return strings.Contains(a, "/p2p-circuit") }); len(direct) > 0 {
			t.Fatalf("%s listens on %v: the test wants the relay as the only way", name, direct)
		}
		return d
	}
	alice, bob = mk("alice"), mk("bob")
	if err := alice.h.Connect(context.Background(), bob.h.RelayAddrs()[0]); err != nil {
		t.Fatal(err)
	}
	return alice, bob, befriend(t, alice, bob)
}

// TestChatThroughRelay: two devices that no one can dial (no listen
// address, as behind a NAT) chat both ways through a `berty serve` relay.
// With the relay's limits, libp2p marks the relayed connection "limited"
// and gossip does not use it: sync carries everything (what a stock relay,
// kubo's included, gives; with its 128 KiB per connection, the connection
// is reset midway and the devices redial). Without limits, gossip runs
// over it too.
func TestChatThroughRelay(t *testing.T) {
	for _, tc := range []struct {
		name string
		lim  infra.Limits
		n    int
	}{
		{"limited", infra.Limits{}, 200},
		{"unlimited", infra.Limits{Duration: -1, Data: -1}, 200},
		// What a stock relay gives (go-libp2p's defaults, kubo's relay):
		// 128 KiB each way per connection, then the relay resets it and
		// the devices redial; 1 000 messages are about 400 KiB.
		{"stock", infra.Limits{Duration: 2 * time.Minute, Data: 128 << 10}, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alice, bob, topic := relayedPair(t, startInfra(t, tc.lim))
			msgs := bodies("alice", tc.n)
			sendAll(t, alice, topic, msgs, 20)
			bob.waitFor(msgs...)
			for i := range 5 { // one message per call, as a person sends
				sendAll(t, bob, topic, []string{"bob " + string(rune('a'+i))}, 1)
			}
			alice.waitFor("bob a", "bob b", "bob c", "bob d", "bob e")
			if r := alice.h.Route(bob.h.ID()); r != "relayed" {
				t.Errorf("alice reaches bob %q, want relayed", r)
			}
			if got := alice.h.TopicPeers(topic); !slices.Contains(got, bob.h.ID()) {
				t.Errorf("bob is not among alice's peers of the conversation: %v", got)
			}
		})
	}
}

// BenchmarkDelivery is one message per call from alice to bob, each waited
// for: the path a person's message takes, on loopback, between two hosts
// connected directly, through a relay with limits (sync carries it: what a
// stock relay gives) and through one without (gossip). ns/op is the time
// from Send to bob's delivery.
func BenchmarkDelivery(b *testing.B) {
	for _, tc := range []struct {
		name  string
		relay bool
		lim   infra.Limits
	}{
		{"direct", false, infra.Limits{}},
		{"relayed-limited", true, infra.Limits{}},
		{"relayed-unlimited", true, infra.Limits{Duration: -1, Data: -1}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var alice, bob *device
			var topic [32]byte
			if tc.relay {
				alice, bob, topic = relayedPair(b, startInfra(b, tc.lim))
			} else {
				alice = newDevice(b, "alice", mem.New(), nil)
				bob = newDevice(b, "bob", mem.New(), nil)
				b.Cleanup(func() { alice.stop(); bob.stop() })
				if err := alice.h.Connect(context.Background(), bob.h.Addrs()[0]); err != nil {
					b.Fatal(err)
				}
				topic = befriend(b, alice, bob)
			}
			// The first exchange settles the group (announces, keys).
			sendAll(b, alice, topic, []string{"warm-up"}, 1)
			bob.waitFor("warm-up")
			b.ResetTimer()
			for i := range b.N {
				m := fmt.Sprintf("message %d", i)
				sendAll(b, alice, topic, []string{m}, 1)
				bob.waitFor(m)
			}
		})
	}
}

// TestRelayedPeersMeetDirectly: two devices that found each other through
// a relay (a relayed address in a contact's records) but can dial each
// other — one LAN, or here loopback — move to a direct connection.
func TestRelayedPeersMeetDirectly(t *testing.T) {
	relay := startInfra(t, infra.Limits{})
	loopback := []string{"/ip4/127.0.0.1/tcp/0"}
	alice := newDeviceWith(t, "alice", loopback, relay.Addrs(), nil)
	bob := newDeviceWith(t, "bob", loopback, relay.Addrs(), nil)
	defer func() { alice.stop(); bob.stop() }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := bob.h.WaitRelayed(ctx); err != nil {
		t.Fatal(err)
	}
	if err := alice.h.Connect(ctx, bob.h.RelayAddrs()[0]); err != nil {
		t.Fatal(err)
	}
	alice.waitEvent(p2p.PeerDirect)
	if r := alice.h.Route(bob.h.ID()); r != "direct" {
		t.Errorf("alice reaches bob %q after the upgrade", r)
	}
}
