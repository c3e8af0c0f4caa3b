package p2p_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/berty-go/berty/net/p2p"
)

// mallory is a raw libp2p host that speaks the protocols badly on purpose.
func newMallory(t *testing.T, target *device) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ai, err := peer.AddrInfoFromString(target.h.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Connect(context.Background(), *ai); err != nil {
		t.Fatal(err)
	}
	return h
}

// syncAttempt opens a sync stream to target, writes payload and returns
// whatever comes back before the stream ends.
func syncAttempt(t *testing.T, m host.Host, target *device, payload []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := m.NewStream(ctx, target.h.ID(), p2p.ProtocolSync)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Write(payload)
	s.CloseWrite()
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(bufio.NewReader(s))
	return b
}

func frame(b []byte) []byte {
	return append(binary.AppendUvarint(nil, uint64(len(b))), b...)
}

// TestMaliciousPeer: garbage, oversized frames, requests without the
// replication-key proof, a flood of sync streams and invalid gossip are
// refused and counted; the honest peers keep talking.
func TestMaliciousPeer(t *testing.T) {
	alice, bob, topic := pair(t, nil)
	sendAll(t, alice, topic, []string{"hello"}, 1)
	bob.waitFor("hello")
	m := newMallory(t, alice)
	errs0 := alice.h.Stats().SyncErrors
	ids := alice.h.Networks(topic)
	zero := ids[len(ids)-1] // epoch 0's network: the name any link holder knows

	garbage := make([]byte, 300)
	rand.Read(garbage)
	if got := syncAttempt(t, m, alice, garbage); len(got) != 0 {
		t.Errorf("garbage got %d bytes of answer", len(got))
	}
	huge := binary.AppendUvarint(nil, 1<<40) // announces a 1 TiB request
	if got := syncAttempt(t, m, alice, huge); len(got) != 0 {
		t.Errorf("an oversized frame got %d bytes of answer", len(got))
	}
	// A well-formed opening for the group's network, without its key:
	// version, network, a made-up proof. It gets no entry and no proof of
	// alice's, and the same answer as an opening for a network alice is not
	// in (one empty frame): nothing says she is in this one.
	head := func(network [32]byte) []byte {
		return frame(append(append([]byte{3}, network[:]...), make([]byte, 32)...))
	}
	var elsewhere [32]byte
	rand.Read(elsewhere[:])
	if got, other := syncAttempt(t, m, alice, head(zero)), syncAttempt(t, m, alice, head(elsewhere)); !bytes.Equal(got, []byte{0}) || !bytes.Equal(other, got) {
		t.Errorf("an opening without the key's proof got %x (and one for another group %x), want the empty frame 00 both", got, other)
	}
	// An opening longer than its 65 bytes (the v1 request, vector and all,
	// say) is refused before it is read.
	long := binary.AppendUvarint(nil, 66+p2p.MaxVectorDevices*42)
	if got := syncAttempt(t, m, alice, append(long, head(zero)[1:]...)); len(got) != 0 {
		t.Errorf("a long opening got %x", got)
	}
	for range 50 { // a flood of streams
		syncAttempt(t, m, alice, garbage[:10])
	}
	if got := alice.h.Stats().SyncErrors - errs0; got < 54 {
		t.Errorf("alice counted %d sync errors, want at least 54", got)
	}

	// Invalid gossip on the group's topic: rejected, not forwarded to bob.
	psCtx, psCancel := context.WithCancel(context.Background())
	t.Cleanup(psCancel) // stops mallory's pubsub goroutines
	ps, err := pubsub.NewGossipSub(psCtx, m,
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign), pubsub.WithNoAuthor(),
		// Without authors every message would get the same default ID and
		// all but the first would be dropped as duplicates.
		pubsub.WithMessageIdFn(func(pm *pb.Message) string { return string(pm.Data) }))
	if err != nil {
		t.Fatal(err)
	}
	mt, err := ps.Join(p2p.TopicName(zero))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := mt.EventHandler()
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for { // wait until mallory knows alice is in the topic
		e, err := ev.NextPeerEvent(ctx)
		if err != nil {
			t.Fatal("mallory never saw alice join the topic")
		}
		if e.Type == pubsub.PeerJoin && e.Peer == alice.h.ID() {
			break
		}
	}
drain:
	for {
		select {
		case <-alice.refusals:
		default:
			break drain
		}
	}
	// Mallory keeps sending garbage, as a hostile peer does: knowing that
	// alice subscribed does not mean she has taken mallory as a peer of the
	// topic yet, and gossip sent before that reaches no one (under load,
	// one message could be lost so and the test wait in vain).
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for refused := false; !refused; {
		if err := mt.Publish(ctx, append([]byte{1, 1, 5}, garbage[:5]...)); err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-alice.refusals:
			if e.Kind != p2p.GossipRefused || e.Peer != m.ID() {
				t.Fatalf("alice refused %+v, want mallory's gossip", e)
			}
			refused = true
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("alice's validator never refused mallory's garbage")
		}
	}

	// The honest peers are unharmed, and bob never saw the garbage: a
	// message alice refused is not forwarded.
	sendAll(t, bob, topic, []string{"still here"}, 1)
	alice.waitFor("still here")
	if n := bob.h.Stats().GossipRefused; n != 0 {
		t.Errorf("bob saw %d invalid messages: alice forwarded garbage", n)
	}
}

// TestNoVectorForNonMembers: alice syncs with every peer that joins a
// group's topic, and anyone can join a topic by its name. A peer that
// cannot prove it holds the group's key (it answers her opening with junk)
// never gets her version vector — which would tell it how much each
// device of the group wrote.
func TestNoVectorForNonMembers(t *testing.T) {
	alice, _, topic := pair(t, nil)
	ids := alice.h.Networks(topic)
	m := newMallory(t, alice)
	after := make(chan error, 1)
	// Alice retries a failed sync: only the first attempt is reported, and
	// the handler never blocks (a blocked one would outlive the test).
	report := func(err error) {
		select {
		case after <- err:
		default:
		}
	}
	m.SetStreamHandler(p2p.ProtocolSync, func(s network.Stream) {
		defer s.Close()
		br := bufio.NewReader(s)
		read := func() ([]byte, error) {
			n, err := binary.ReadUvarint(br)
			if err != nil {
				return nil, err
			}
			b := make([]byte, n)
			_, err = io.ReadFull(br, b)
			return b, err
		}
		opening, err := read()
		if err != nil || len(opening) != 65 { // version, network, proof: no device, no vector
			report(fmt.Errorf("alice's opening: %d bytes, %v", len(opening), err))
			return
		}
		junk := make([]byte, 32)
		rand.Read(junk)
		s.Write(frame(junk))
		b, err := read() // what alice sends next, if anything
		if err == nil {
			err = fmt.Errorf("alice sent %d more bytes", len(b))
		} else {
			err = nil
		}
		report(err)
	})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	ps, err := pubsub.NewGossipSub(ctx, m, pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign), pubsub.WithNoAuthor())
	if err != nil {
		t.Fatal(err)
	}
	mt, err := ps.Join(p2p.TopicName(ids[len(ids)-1]))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := mt.Subscribe() // alice sees mallory join, and syncs with her
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Cancel()
	select {
	case err := <-after:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("alice never opened a sync with the peer that joined the topic")
	}
}

// TestSyncStallers: a peer that opens sync streams and sends nothing holds
// each open until its deadline. It gets at most maxServesPerPeer of them;
// the next are reset at once and counted, and honest peers go on syncing.
func TestSyncStallers(t *testing.T) {
	alice, bob, topic := pair(t, nil)
	// Mallory's own resource manager would stop her first.
	m, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.ResourceManager(&network.NullResourceManager{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	ai, err := peer.AddrInfoFromString(alice.h.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := m.Connect(ctx, *ai); err != nil {
		t.Fatal(err)
	}
	drainRefusals := func() {
		for {
			select {
			case <-alice.refusals:
			default:
				return
			}
		}
	}
	drainRefusals()
	var held []network.Stream
	defer func() {
		for _, s := range held {
			s.Reset()
		}
	}()
	refused := false
	for i := 0; i < 200 && !refused; i++ {
		s, err := m.NewStream(ctx, alice.h.ID(), p2p.ProtocolSync)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, s)
		if _, err := s.Write([]byte{0x41}); err != nil { // one byte of a frame length: alice waits for the rest
			t.Fatal(err)
		}
		select {
		case e := <-alice.refusals:
			refused = e.Kind == p2p.SyncRefused && e.Peer == m.ID()
		default:
		}
	}
	for !refused {
		select {
		case e := <-alice.refusals:
			refused = e.Kind == p2p.SyncRefused && e.Peer == m.ID()
		case <-ctx.Done():
			t.Fatalf("alice served %d silent sync streams of one peer at once, refusing none", len(held))
		}
	}
	if len(held) < 64 {
		t.Errorf("alice refused mallory after %d streams, before the limit of 64", len(held))
	}
	sendAll(t, bob, topic, []string{"through the stall"}, 1)
	alice.waitFor("through the stall")
}

// TestStrangerGetsNoGossip (§10.1): mallory, a libp2p peer without the
// group's keys, connects to alice and bob and subscribes to the names of
// every network they carry the group on (she saw them in their
// subscriptions). Both see her join (each opens a sync with her, which she
// cannot answer). While alice writes to bob, no batch reaches her by gossip,
// and neither counts her among the group's peers (nor protects her
// connection), while each counts the other. Before gossip was gated,
// alice's flood publishing sent her every batch.
func TestStrangerGetsNoGossip(t *testing.T) {
	alice, bob, topic := pair(t, nil)
	m := newMallory(t, alice)
	ai, err := peer.AddrInfoFromString(bob.h.Addrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Connect(t.Context(), *ai); err != nil {
		t.Fatal(err)
	}
	opened := make(chan peer.ID, 64)
	got := make(chan struct{}, 1024)
	// She answers a sync as a host that is not in the group does: an empty
	// frame (she cannot check the proof).
	m.SetStreamHandler(p2p.ProtocolSync, func(s network.Stream) {
		defer s.Close()
		opened <- s.Conn().RemotePeer()
		s.Write([]byte{0})
	})
	grafts := make(chan peer.ID, 64)
	ps, err := pubsub.NewGossipSub(t.Context(), m, pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign), pubsub.WithNoAuthor(),
		pubsub.WithRawTracer(graftTracer{first: p2p.TopicName(alice.h.Networks(topic)[0]), grafts: grafts}))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range alice.h.Networks(topic) {
		mt, err := ps.Join(p2p.TopicName(id))
		if err != nil {
			t.Fatal(err)
		}
		sub, err := mt.Subscribe()
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				if _, err := sub.Next(t.Context()); err != nil {
					return
				}
				got <- struct{}{}
			}
		}()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	// Both saw her join (each opened a sync with her), and she grafted both
	// into her mesh of the network alice publishes on: without the gate,
	// they would take her into theirs.
	seen, grafted := map[peer.ID]bool{}, map[peer.ID]bool{}
	for !seen[alice.h.ID()] || !seen[bob.h.ID()] || !grafted[alice.h.ID()] || !grafted[bob.h.ID()] {
		select {
		case p := <-opened:
			seen[p] = true
		case p := <-grafts:
			grafted[p] = true
		case <-ctx.Done():
			t.Fatalf("setup: alice and bob did not both see mallory join (%v), or she did not graft them (%v)", seen, grafted)
		}
	}
	msgs := bodies("alice", 20)
	sendAll(t, alice, topic, msgs, 5)
	bob.waitFor(msgs...)
	sendAll(t, bob, topic, []string{"bob: got them"}, 1)
	alice.waitFor("bob: got them")
	// Everything reached the members; a batch flooded to mallory would have
	// reached her as fast. Gossip's heartbeat (1 s) twice over brings her
	// anything late.
	select {
	case <-got:
		t.Fatal("mallory, who holds no key of the group, received a batch by gossip")
	case <-time.After(2 * time.Second):
	}
	for _, d := range []*device{alice, bob} {
		peers := d.h.TopicPeers(topic)
		if slices.Contains(peers, m.ID()) {
			t.Errorf("%s counts mallory among the group's peers", d.name)
		}
		other := bob.h.ID()
		if d == bob {
			other = alice.h.ID()
		}
		if !slices.Contains(peers, other) {
			t.Errorf("%s does not count the other member among the group's peers (%v)", d.name, peers)
		}
	}
}

// graftTracer reports the peers a pubsub router grafts into its mesh of one
// topic.
type graftTracer struct {
	first  string
	grafts chan peer.ID
}

func (g graftTracer) Graft(p peer.ID, topic string) {
	if topic == g.first {
		select {
		case g.grafts <- p:
		default:
		}
	}
}
func (graftTracer) OnNewOutboundStream(peer.ID, protocol.ID) {}
func (graftTracer) OnClosedOutboundStream(peer.ID)           {}
func (graftTracer) Join(string)                              {}
func (graftTracer) Leave(string)                             {}
func (graftTracer) Prune(peer.ID, string)                    {}
func (graftTracer) ValidateMessage(*pubsub.Message)          {}
func (graftTracer) DeliverMessage(*pubsub.Message)           {}
func (graftTracer) RejectMessage(*pubsub.Message, string)    {}
func (graftTracer) DuplicateMessage(*pubsub.Message)         {}
func (graftTracer) ThrottlePeer(peer.ID)                     {}
func (graftTracer) RecvRPC(*pubsub.RPC)                      {}
func (graftTracer) SendRPC(*pubsub.RPC, peer.ID)             {}
func (graftTracer) DropRPC(*pubsub.RPC, peer.ID)             {}
func (graftTracer) UndeliverableMessage(*pubsub.Message)     {}
