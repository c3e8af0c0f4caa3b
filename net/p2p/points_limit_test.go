package p2p_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/berty-go/berty/core/rendezvous"
	"github.com/berty-go/berty/net/p2p"
)

// TestPointSlotsPerPeer: one peer cannot take every slot of a host's
// rendezvous points. Mallory knows a point the host serves (a contact link
// is shared with people) and opens 16 exchanges that then stall: the host
// serves two of them and resets the others at once, and a genuine peer's
// exchange still goes through. Before, those 16 streams held the host's 16
// slots for 10 s and every contact request and device link was refused.
func TestPointSlotsPerPeer(t *testing.T) {
	resp, req := newHost(t), newHost(t)
	var pt [32]byte
	pt[0] = 7
	var entered atomic.Int32
	key := p2p.PointKey{Key: []byte("the link's seed"), Label: rendezvous.LabelContact}
	serveEcho(resp, key, pt, &entered)
	m := newMallory(t, &device{h: resp})
	proof := rendezvous.Proof(key.Key, key.Label, pt, []byte(m.ID()), []byte(resp.ID()))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	const streams = 16
	ended := make(chan struct{}, streams)
	for range streams {
		s, err := m.NewStream(network.WithAllowLimitedConn(ctx, "test"), resp.ID(), p2p.ProtocolPoints)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.Write(append(append(binary.BigEndian.AppendUint16(nil, 64), pt[:]...), proof[:]...)); err != nil {
			t.Fatal(err)
		}
		go func() {
			s.Read(make([]byte, 1)) // returns when the host resets the stream
			ended <- struct{}{}
		}()
	}
	for range streams - 2 {
		select {
		case <-ended:
		case <-ctx.Done():
			t.Fatalf("the host did not turn away mallory's exchanges beyond two (%d served)", entered.Load())
		}
	}
	if n := entered.Load(); n != 2 {
		t.Fatalf("the host serves %d of mallory's exchanges at once, want 2", n)
	}
	if err := req.Connect(ctx, resp.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	if err := echo(ctx, req, key, pt); err != nil {
		t.Fatalf("a genuine exchange while mallory holds her slots: %v", err)
	}
}

func serveEcho(h *p2p.Host, key p2p.PointKey, pt [32]byte, entered *atomic.Int32) {
	h.ServePoints(map[[32]byte]p2p.Served{pt: {PointKey: key, Handle: func(_ context.Context, _ [32]byte, e *p2p.Exchange) error {
		entered.Add(1)
		b, err := e.Read()
		if err != nil {
			return err
		}
		return e.Write(b)
	}}})
}

func echo(ctx context.Context, h *p2p.Host, key p2p.PointKey, pt [32]byte) error {
	return h.Reach(ctx, key, [][32]byte{pt}, func(_ [32]byte, e *p2p.Exchange) error {
		got, err := e.Call([]byte("hi"))
		if err == nil && string(got) != "hi" {
			return fmt.Errorf("echo %q", got)
		}
		return err
	})
}

// TestPointSlotsSybil: the point a host serves is no secret — every peer a
// requester asks learns it, and the DHT holds it — but a slot needs the
// proof that the dialer holds the point's key, bound to the dialer's and
// the host's identities (§11.4). Sixteen fresh identities that know the
// point, each with a made-up proof or with a genuine proof replayed from
// another peer, get no slot at all and nothing of the handler runs; a
// genuine requester then goes through at once. Before, 8 identities held
// all 16 slots and blocked every contact request to a published link.
func TestPointSlotsSybil(t *testing.T) {
	resp, req := newHost(t), newHost(t)
	var pt [32]byte
	pt[0] = 9
	var entered atomic.Int32
	key := p2p.PointKey{Key: []byte("the link's seed"), Label: rendezvous.LabelContact}
	serveEcho(resp, key, pt, &entered)
	replayed := rendezvous.Proof(key.Key, key.Label, pt, []byte(req.ID()), []byte(resp.ID()))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	const sybils = 16
	ended := make(chan struct{}, sybils)
	for i := range sybils {
		m := newMallory(t, &device{h: resp})
		s, err := m.NewStream(network.WithAllowLimitedConn(ctx, "test"), resp.ID(), p2p.ProtocolPoints)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		proof := make([]byte, 32) // made up
		if i%2 == 1 {
			proof = replayed[:] // genuine, for another peer
		}
		if _, err := s.Write(append(append(binary.BigEndian.AppendUint16(nil, 64), pt[:]...), proof...)); err != nil {
			t.Fatal(err)
		}
		go func() {
			s.Read(make([]byte, 1)) // returns when the host resets the stream
			ended <- struct{}{}
		}()
	}
	for range sybils {
		select {
		case <-ended:
		case <-ctx.Done():
			t.Fatal("the host did not turn away the sybils' exchanges")
		}
	}
	if n := entered.Load(); n != 0 {
		t.Fatalf("the host ran %d exchanges for peers without the key", n)
	}
	if err := req.Connect(ctx, resp.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	if err := echo(ctx, req, key, pt); err != nil {
		t.Fatalf("a genuine exchange after the sybils: %v", err)
	}
	if n := entered.Load(); n != 1 {
		t.Fatalf("%d exchanges run, want the genuine one", n)
	}
}
