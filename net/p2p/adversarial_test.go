package p2p_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

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

	garbage := make([]byte, 300)
	rand.Read(garbage)
	if got := syncAttempt(t, m, alice, garbage); len(got) != 0 {
		t.Errorf("garbage got %d bytes of answer", len(got))
	}
	huge := binary.AppendUvarint(nil, 1<<40) // announces a 1 TiB request
	if got := syncAttempt(t, m, alice, huge); len(got) != 0 {
		t.Errorf("an oversized frame got %d bytes of answer", len(got))
	}
	// A well-formed request for the group, without the replication key:
	// version, topic, a made-up proof, an empty vector.
	req := append([]byte{1}, topic[:]...)
	req = append(req, make([]byte, 32)...)
	req = append(req, 0)
	if got := syncAttempt(t, m, alice, frame(req)); len(got) != 0 {
		t.Errorf("a request without the key's proof got %d bytes: entries leaked", len(got))
	}
	for range 50 { // a flood of streams
		syncAttempt(t, m, alice, garbage[:10])
	}
	if got := alice.h.Stats().SyncErrors - errs0; got < 53 {
		t.Errorf("alice counted %d sync errors, want at least 53", got)
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
	mt, err := ps.Join("/berty/1/" + hex.EncodeToString(topic[:]))
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
	if err := mt.Publish(ctx, append([]byte{1, 1, 5}, garbage[:5]...)); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-alice.refusals:
		if e.Kind != p2p.GossipRefused || e.Peer != m.ID() {
			t.Fatalf("alice refused %+v, want mallory's gossip", e)
		}
	case <-ctx.Done():
		t.Fatal("alice's validator never refused mallory's garbage")
	}

	// The honest peers are unharmed, and bob never saw the garbage: a
	// message alice refused is not forwarded.
	sendAll(t, bob, topic, []string{"still here"}, 1)
	alice.waitFor("still here")
	if n := bob.h.Stats().GossipRefused; n != 0 {
		t.Errorf("bob saw %d invalid messages: alice forwarded garbage", n)
	}
}
