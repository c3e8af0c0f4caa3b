package p2p_test

import (
	"context"
	"encoding/binary"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

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
	resp.ServePoints(map[[32]byte]p2p.PointHandler{pt: func(_ context.Context, _ [32]byte, e *p2p.Exchange) error {
		entered.Add(1)
		b, err := e.Read()
		if err != nil {
			return err
		}
		return e.Write(b)
	}})
	m := newMallory(t, &device{h: resp})
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
		if _, err := s.Write(append(binary.BigEndian.AppendUint16(nil, 32), pt[:]...)); err != nil {
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
	err := req.Reach(ctx, [][32]byte{pt}, func(_ [32]byte, e *p2p.Exchange) error {
		got, err := e.Call([]byte("hi"))
		if err == nil && string(got) != "hi" {
			t.Errorf("echo %q", got)
		}
		return err
	})
	if err != nil {
		t.Fatalf("a genuine exchange while mallory holds her slots: %v", err)
	}
}
